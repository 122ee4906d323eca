/**
 * Test support: a real sandbox (every upstream a real HTTP server on port 0) and a real gateway
 * process-in-test on port 0, with its logs captured. No mocks.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { DEFAULT_SANDBOX_CREDENTIALS, startSandbox, type Sandbox, type SandboxCredentials, type SandboxOptions } from '../../sandbox/index.js';
import { startTributary, type StartOptions, type Tributary } from '../../src/main.js';

export const OPERATIONS = {
  ProductPage: readFileSync(new URL('../../operations/ProductPage.graphql', import.meta.url), 'utf8'),
  CategoryPage: readFileSync(new URL('../../operations/CategoryPage.graphql', import.meta.url), 'utf8'),
  CheckoutQuote: readFileSync(new URL('../../operations/CheckoutQuote.graphql', import.meta.url), 'utf8'),
  Viewer: readFileSync(new URL('../../operations/Viewer.graphql', import.meta.url), 'utf8'),
};

export interface Stack {
  readonly sandbox: Sandbox;
  readonly gateway: Tributary;
  readonly url: string;
  /** Every log line the gateway wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The raw log text. */
  logText(): string;
  /** The request log line of a request id, once the gateway has written it (it does when the response is done). */
  requestLog(requestId: string): Promise<Record<string, unknown>>;
  gql(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResponse>;
  resetStats(): void;
  close(): Promise<void>;
}

export interface GqlResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: { data?: any; errors?: any; extensions?: any };
}

export interface StackOptions {
  readonly sandbox?: SandboxOptions;
  readonly env?: Record<string, string>;
  /** More options for the gateway (policy overrides, a clock...). */
  readonly start?: Partial<StartOptions>;
}

export async function post(url: string, payload: unknown, headers: Record<string, string> = {}): Promise<GqlResponse> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  const text = await res.text();
  let body: GqlResponse['body'] = {};
  try {
    body = JSON.parse(text);
  } catch {
    // leave empty: the test will see `text`
  }
  return { status: res.status, headers: res.headers, text, body };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const sandbox = await startSandbox({ portBase: 0, seed: 42, ...opts.sandbox });
  const lines: string[] = [];
  const written = new Set<() => void>();
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      for (const w of written) w();
      cb();
    },
  });
  const findRequestLog = (requestId: string) =>
    lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'graphql request' && l.requestId === requestId);
  const gateway = await startTributary({
    env: { NODE_ENV: 'test', LOG_LEVEL: 'info', ...opts.env },
    baseUrls: sandbox.urls,
    port: 0,
    host: '127.0.0.1',
    logDestination: destination,
    ...opts.start,
  });
  const url = gateway.url;
  return {
    sandbox,
    gateway,
    url,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join('\n'),
    requestLog: (requestId) =>
      new Promise((resolve) => {
        const check = () => {
          const line = findRequestLog(requestId);
          if (!line) return;
          written.delete(check);
          resolve(line);
        };
        written.add(check);
        check();
      }),
    gql: (query, variables = {}, headers = {}) => post(url, { query, variables }, headers),
    resetStats() {
      for (const u of Object.values(sandbox.upstreams)) u.resetStats();
    },
    async close() {
      await gateway.close();
      // Every stack of the suite checks, before it goes, that no upstream received another's credential
      // and that no credential reached the logs.
      const leaks = credentialLeaks(sandbox, { ...DEFAULT_SANDBOX_CREDENTIALS, ...opts.sandbox?.credentials }, lines.join('\n'));
      await sandbox.close();
      if (leaks.length) throw new Error(`credential isolation broken:\n${leaks.join('\n')}`);
    },
  };
}

/** The credential values each upstream owns, in the forms they travel in (raw, and Basic-encoded). */
function credentialsByUpstream(c: SandboxCredentials): Record<string, string[]> {
  const basic = (user: string, pass: string) => Buffer.from(`${user}:${pass}`).toString('base64');
  return {
    pricing: [c.pricingToken],
    inventory: [c.inventoryApiKey],
    reviews: [c.reviewsToken],
    recommendations: [c.recommendationsApiKey],
    shipping: [c.shippingClientId, c.shippingClientSecret, basic(c.shippingClientId, c.shippingClientSecret)],
    tax: [c.taxPassword, basic(c.taxUsername, c.taxPassword)],
    accounts: [c.accountsToken],
  };
}

/**
 * What went where it must not: a header an upstream received that carries another upstream's credential
 * (from the sandbox's recorded requests), or a credential in the gateway's logs.
 */
export function credentialLeaks(sandbox: Sandbox, creds: SandboxCredentials, logText: string): string[] {
  const owned = credentialsByUpstream(creds);
  const leaks: string[] = [];
  for (const [name, upstream] of Object.entries(sandbox.upstreams)) {
    const foreign = Object.entries(owned).filter(([owner]) => owner !== name);
    for (const req of upstream.stats().requests) {
      for (const [header, value] of Object.entries(req.headers)) {
        for (const [owner, secrets] of foreign) {
          if (secrets.some((secret) => value.includes(secret))) leaks.push(`${name} received ${owner}'s credential in ${header} (${req.route})`);
        }
      }
    }
  }
  for (const [owner, secrets] of Object.entries(owned)) if (secrets.some((secret) => logText.includes(secret))) leaks.push(`the logs hold ${owner}'s credential`);
  return leaks;
}
