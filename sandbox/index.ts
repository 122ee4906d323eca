/**
 * The sandbox shop: eight small HTTP upstreams over the DummyJSON data set (CONTRACT.md section 2).
 *
 *   const sandbox = await startSandbox({ portBase: 0 });
 *   sandbox.urls.pricing  // http://127.0.0.1:<port>
 *   await sandbox.close();
 *
 * See sandbox/README.md for routes, credentials, data rules, faults and drift.
 */
import { randomInt } from 'node:crypto';
import { validateFaultSpec, FaultSpecError } from './faults.js';
import { UpstreamServer } from './server.js';
import { upstreamDef } from './upstreams.js';
import { UPSTREAM_NAMES } from './types.js';
import type { FaultSpec, Sandbox, SandboxCredentials, SandboxOptions, SandboxUpstream, UpstreamName } from './types.js';

export type {
  DriftKind,
  FaultSpec,
  Sandbox,
  SandboxCredentials,
  SandboxOptions,
  SandboxUpstream,
  Stats,
  StatsEntry,
  UpstreamName,
} from './types.js';
export { UPSTREAM_NAMES } from './types.js';
export { FaultSpecError } from './faults.js';

/** Default latency of each upstream, ms. */
export const DEFAULT_LATENCY_MS: Readonly<Record<UpstreamName, number>> = Object.freeze({
  catalog: 15,
  pricing: 10,
  inventory: 20,
  reviews: 10,
  recommendations: 60,
  shipping: 25,
  tax: 15,
  accounts: 15,
});

export const DEFAULT_PORT_BASE = 4100;
export const DEFAULT_SHIPPING_TOKEN_TTL_S = 300;

/** The credentials the sandbox accepts unless told otherwise (sandbox only, never production). */
export const DEFAULT_SANDBOX_CREDENTIALS: Readonly<SandboxCredentials> = Object.freeze({
  pricingToken: 'sandbox-pricing-token',
  inventoryApiKey: 'sandbox-inventory-key',
  reviewsToken: 'sandbox-reviews-token',
  recommendationsApiKey: 'sandbox-recommendations-key',
  shippingClientId: 'sandbox-shipping-client',
  shippingClientSecret: 'sandbox-shipping-secret',
  taxUsername: 'sandbox-tax',
  taxPassword: 'sandbox-tax-password',
  accountsToken: 'sandbox-accounts-token',
});

/** Environment variable of each credential (the same names the gateway reads). */
export const CREDENTIAL_ENV: Readonly<Record<keyof SandboxCredentials, string>> = Object.freeze({
  pricingToken: 'PRICING_TOKEN',
  inventoryApiKey: 'INVENTORY_API_KEY',
  reviewsToken: 'REVIEWS_TOKEN',
  recommendationsApiKey: 'RECOMMENDATIONS_API_KEY',
  shippingClientId: 'SHIPPING_CLIENT_ID',
  shippingClientSecret: 'SHIPPING_CLIENT_SECRET',
  taxUsername: 'TAX_USERNAME',
  taxPassword: 'TAX_PASSWORD',
  accountsToken: 'ACCOUNTS_TOKEN',
});

/** Credentials from the environment (PRICING_TOKEN, INVENTORY_API_KEY, ...); unset or empty -> the default. */
export function sandboxCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env): SandboxCredentials {
  const out = { ...DEFAULT_SANDBOX_CREDENTIALS };
  for (const [key, name] of Object.entries(CREDENTIAL_ENV) as [keyof SandboxCredentials, string][]) {
    const v = env[name];
    if (v) out[key] = v;
  }
  return out;
}

function envInt(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer between ${min} and ${max} (got '${v}')`);
  return n;
}

function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(v) || !Number.isFinite(n)) throw new Error(`${name} must be a non-negative number of ms (got '${v}')`);
  return n;
}

/**
 * Sandbox options from the environment:
 * SANDBOX_HOST, SANDBOX_PORT_BASE, SANDBOX_LATENCY_MS (every upstream), SANDBOX_<NAME>_LATENCY_MS,
 * SANDBOX_<NAME>_FAULTS (a JSON FaultSpec), SANDBOX_SHIPPING_TOKEN_TTL_S, SANDBOX_SEED, and the
 * credentials (see {@link sandboxCredentialsFromEnv}). Invalid values throw an Error saying which.
 */
export function sandboxOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SandboxOptions {
  const opts: SandboxOptions = { credentials: sandboxCredentialsFromEnv(env) };
  if (env.SANDBOX_HOST) opts.host = env.SANDBOX_HOST;
  const portBase = envInt(env, 'SANDBOX_PORT_BASE', 0, 65535 - UPSTREAM_NAMES.length);
  if (portBase !== undefined) opts.portBase = portBase;
  const all = envNumber(env, 'SANDBOX_LATENCY_MS');
  const latency: Partial<Record<UpstreamName, number>> = {};
  const faults: Partial<Record<UpstreamName, FaultSpec>> = {};
  for (const name of UPSTREAM_NAMES) {
    const upper = name.toUpperCase();
    const own = envNumber(env, `SANDBOX_${upper}_LATENCY_MS`) ?? all;
    if (own !== undefined) latency[name] = own;
    const f = env[`SANDBOX_${upper}_FAULTS`];
    if (f !== undefined && f.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(f);
      } catch {
        throw new Error(`SANDBOX_${upper}_FAULTS is not valid JSON`);
      }
      try {
        faults[name] = validateFaultSpec(parsed, upstreamDef(name).routes.map((r) => r.key));
      } catch (err) {
        if (err instanceof FaultSpecError) throw new Error(`SANDBOX_${upper}_FAULTS: ${err.message}`);
        throw err;
      }
    }
  }
  if (Object.keys(latency).length) opts.latencyMs = latency;
  if (Object.keys(faults).length) opts.faults = faults;
  const ttl = envInt(env, 'SANDBOX_SHIPPING_TOKEN_TTL_S', 1, 86_400 * 365);
  if (ttl !== undefined) opts.shippingTokenTtlS = ttl;
  const seed = envInt(env, 'SANDBOX_SEED', 0, 0xffffffff);
  if (seed !== undefined) opts.seed = seed;
  return opts;
}

/**
 * Starts the sandbox upstreams (all, or `opts.only`) and resolves once every one is listening.
 * With `only`, `urls` and `upstreams` hold just the started ones.
 */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const host = opts.host ?? '127.0.0.1';
  const portBase = opts.portBase ?? DEFAULT_PORT_BASE;
  if (!Number.isSafeInteger(portBase) || portBase < 0 || portBase > 65535 - UPSTREAM_NAMES.length) {
    throw new RangeError(`portBase must be an integer between 0 and ${65535 - UPSTREAM_NAMES.length}`);
  }
  const ttl = opts.shippingTokenTtlS ?? DEFAULT_SHIPPING_TOKEN_TTL_S;
  if (!(typeof ttl === 'number' && ttl > 0 && Number.isFinite(ttl))) throw new RangeError('shippingTokenTtlS must be a positive number');
  const credentials: SandboxCredentials = { ...DEFAULT_SANDBOX_CREDENTIALS };
  for (const [k, v] of Object.entries(opts.credentials ?? {}) as [keyof SandboxCredentials, string | undefined][]) {
    if (v !== undefined && v !== '') credentials[k] = v;
  }
  const seed = opts.seed ?? randomInt(0, 2 ** 32 - 1);
  const now = opts.now ?? Date.now;
  const names = opts.only ? UPSTREAM_NAMES.filter((n) => opts.only!.includes(n)) : [...UPSTREAM_NAMES];

  const servers = names.map(
    (name) =>
      new UpstreamServer({
        name,
        host,
        port: portBase === 0 ? 0 : portBase + UPSTREAM_NAMES.indexOf(name) + 1,
        latencyMs: opts.latencyMs?.[name] ?? DEFAULT_LATENCY_MS[name],
        credentials,
        shippingTokenTtlS: ttl,
        faults: opts.faults?.[name] ?? null,
        // A distinct stream per upstream, so traffic to one never shifts another's fault draws.
        seed: (seed + Math.imul(UPSTREAM_NAMES.indexOf(name) + 1, 0x9e3779b9)) >>> 0,
        now,
      }),
  );
  const results = await Promise.allSettled(servers.map((s) => s.start()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  const urls = {} as Record<UpstreamName, string>;
  const upstreams = {} as Record<UpstreamName, SandboxUpstream>;
  for (const s of servers) {
    urls[s.name] = s.url;
    upstreams[s.name] = s;
  }
  return {
    urls,
    upstreams,
    close: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
