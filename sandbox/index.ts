/**
 * The sandbox shop: small HTTP upstreams over the DummyJSON data set, one file each in
 * `sandbox/upstreams/`, discovered at run time. What each implements is written in sandbox/README.md.
 *
 *   const sandbox = await startSandbox({ portBase: 0 });
 *   sandbox.urls.pricing            // http://127.0.0.1:<port>
 *   sandbox.upstream('pricing')     // its controls (stats, faults, credentials, records)
 *   await sandbox.close();
 */
import { randomInt } from 'node:crypto';
import { envInt, envMs } from './env.js';
import { validateFaultSpec, FaultSpecError } from './faults.js';
import { DESCRIPTORS } from './registry.js';
import { UpstreamServer } from './server.js';
import type { SandboxUpstreamDescriptor } from './descriptor.js';
import type { FaultSpec, Sandbox, SandboxCredentials, SandboxOptions, SandboxUpstream, UpstreamName } from './types.js';

export type {
  DriftKind,
  FaultSpec,
  IdempotencyRecord,
  LostAnswer,
  Sandbox,
  SandboxCredentials,
  SandboxOptions,
  SandboxUpstream,
  Stats,
  StatsEntry,
  UpstreamName,
  UpstreamRecords,
} from './types.js';
export type { CredentialSpec, SandboxUpstreamDescriptor } from './descriptor.js';
export { defineSandboxUpstream } from './descriptor.js';
export { FaultSpecError } from './faults.js';
export { IDEMPOTENCY_KEY_TTL_MS } from './idempotency.js';

export const DEFAULT_PORT_BASE = 4100;

/** Every sandbox upstream's descriptor, in port order. */
export const SANDBOX_UPSTREAMS: readonly SandboxUpstreamDescriptor[] = DESCRIPTORS;

/** The names of the sandbox upstreams, in port order. */
export function sandboxUpstreamNames(): UpstreamName[] {
  return DESCRIPTORS.map((d) => d.name);
}

/** Whether `name` has a sandbox counterpart. */
export function hasSandboxUpstream(name: string): boolean {
  return DESCRIPTORS.some((d) => d.name === name);
}

/** The descriptor of a sandbox upstream, or undefined. */
export function sandboxUpstream(name: string): SandboxUpstreamDescriptor | undefined {
  return DESCRIPTORS.find((d) => d.name === name);
}

/** Every sandbox upstream, in port order (derived from the descriptors; kept for callers of earlier versions). */
export const UPSTREAM_NAMES: readonly UpstreamName[] = Object.freeze(sandboxUpstreamNames());

/** Default latency of each upstream, ms. */
export const DEFAULT_LATENCY_MS: Readonly<Record<UpstreamName, number>> = Object.freeze(Object.fromEntries(DESCRIPTORS.map((d) => [d.name, d.latencyMs])));

/** The credentials the sandbox accepts unless told otherwise (sandbox only, never production), by credential key. */
export const DEFAULT_SANDBOX_CREDENTIALS: Readonly<SandboxCredentials> = Object.freeze(
  Object.fromEntries(DESCRIPTORS.flatMap((d) => Object.entries(d.credentials).map(([k, c]) => [k, c.default]))),
);

/** Environment variable of each credential key (the same names the gateway reads). */
export const CREDENTIAL_ENV: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(DESCRIPTORS.flatMap((d) => Object.entries(d.credentials).map(([k, c]) => [k, c.env]))),
);

/** Which upstream owns each credential key. */
export const CREDENTIAL_OWNER: Readonly<Record<string, UpstreamName>> = Object.freeze(
  Object.fromEntries(DESCRIPTORS.flatMap((d) => Object.keys(d.credentials).map((k) => [k, d.name]))),
);

const MAX_PORT_OFFSET = Math.max(0, ...DESCRIPTORS.map((d) => d.portOffset));

/** Credentials from the environment (PRICING_TOKEN, INVENTORY_API_KEY, ...); unset or empty -> the default. */
export function sandboxCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env): SandboxCredentials {
  const out: SandboxCredentials = { ...DEFAULT_SANDBOX_CREDENTIALS };
  for (const [key, name] of Object.entries(CREDENTIAL_ENV)) {
    const v = env[name];
    if (v) out[key] = v;
  }
  return out;
}

/**
 * Sandbox options from the environment:
 * SANDBOX_HOST, SANDBOX_PORT_BASE, SANDBOX_LATENCY_MS (every upstream), SANDBOX_<NAME>_LATENCY_MS,
 * SANDBOX_<NAME>_FAULTS (a JSON FaultSpec), SANDBOX_SEED, each upstream's own settings (e.g.
 * SANDBOX_SHIPPING_TOKEN_TTL_S), and the credentials (see {@link sandboxCredentialsFromEnv}).
 * Invalid values throw an Error saying which.
 */
export function sandboxOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): SandboxOptions {
  let opts: SandboxOptions = { credentials: sandboxCredentialsFromEnv(env) };
  if (env.SANDBOX_HOST) opts.host = env.SANDBOX_HOST;
  const portBase = envInt(env, 'SANDBOX_PORT_BASE', 0, 65535 - MAX_PORT_OFFSET);
  if (portBase !== undefined) opts.portBase = portBase;
  const all = envMs(env, 'SANDBOX_LATENCY_MS');
  const latency: Partial<Record<UpstreamName, number>> = {};
  const faults: Partial<Record<UpstreamName, FaultSpec>> = {};
  for (const d of DESCRIPTORS) {
    const upper = d.name.toUpperCase().replace(/-/g, '_');
    const own = envMs(env, `SANDBOX_${upper}_LATENCY_MS`) ?? all;
    if (own !== undefined) latency[d.name] = own;
    const f = env[`SANDBOX_${upper}_FAULTS`];
    if (f !== undefined && f.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(f);
      } catch {
        throw new Error(`SANDBOX_${upper}_FAULTS is not valid JSON`);
      }
      try {
        faults[d.name] = validateFaultSpec(parsed, d.create(probeHost).routes.map((r) => r.key));
      } catch (err) {
        if (err instanceof FaultSpecError) throw new Error(`SANDBOX_${upper}_FAULTS: ${err.message}`);
        throw err;
      }
    }
    if (d.optionsFromEnv) opts = { ...opts, ...d.optionsFromEnv(env) };
  }
  if (Object.keys(latency).length) opts.latencyMs = latency;
  if (Object.keys(faults).length) opts.faults = faults;
  const seed = envInt(env, 'SANDBOX_SEED', 0, 0xffffffff);
  if (seed !== undefined) opts.seed = seed;
  return opts;
}

/** A host for reading a descriptor's route keys without serving it. */
const probeHost = { credentials: () => DEFAULT_SANDBOX_CREDENTIALS, now: Date.now, options: {} };

/**
 * Starts the sandbox upstreams (all, or those of `opts.only` that exist) and resolves once every one
 * is listening; `urls` and `upstreams` hold the started ones. Names in `only`, `latencyMs` or `faults`
 * without a sandbox upstream are ignored, so callers may pass lists derived from their definitions.
 */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const host = opts.host ?? '127.0.0.1';
  const portBase = opts.portBase ?? DEFAULT_PORT_BASE;
  if (!Number.isSafeInteger(portBase) || portBase < 0 || portBase > 65535 - MAX_PORT_OFFSET) {
    throw new RangeError(`portBase must be an integer between 0 and ${65535 - MAX_PORT_OFFSET} (got ${portBase})`);
  }
  const credentials: SandboxCredentials = { ...DEFAULT_SANDBOX_CREDENTIALS };
  for (const [k, v] of Object.entries(opts.credentials ?? {})) {
    if (v !== undefined && v !== '') credentials[k] = v;
  }
  const seed = opts.seed ?? randomInt(0, 2 ** 32 - 1);
  const now = opts.now ?? Date.now;
  const chosen = opts.only ? DESCRIPTORS.filter((d) => opts.only!.includes(d.name)) : DESCRIPTORS;

  const servers = chosen.map(
    (d) =>
      new UpstreamServer({
        descriptor: d,
        host,
        port: portBase === 0 ? 0 : portBase + d.portOffset,
        latencyMs: opts.latencyMs?.[d.name] ?? d.latencyMs,
        credentials,
        faults: opts.faults?.[d.name] ?? null,
        // A distinct stream per upstream, so traffic to one never shifts another's fault draws.
        seed: (seed + Math.imul(d.portOffset, 0x9e3779b9)) >>> 0,
        now,
        options: opts,
      }),
  );
  const results = await Promise.allSettled(servers.map((s) => s.start()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  const urls: Record<UpstreamName, string> = {};
  const upstreams: Record<UpstreamName, SandboxUpstream> = {};
  for (const s of servers) {
    urls[s.name] = s.url;
    upstreams[s.name] = s;
  }
  const upstream = (name: UpstreamName): SandboxUpstream => {
    const u = upstreams[name];
    if (!u) throw new Error(`no sandbox upstream '${name}' was started (started: ${Object.keys(upstreams).join(', ') || 'none'})`);
    return u;
  };
  return {
    urls,
    upstreams,
    upstream,
    url: (name) => upstream(name).url,
    close: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
