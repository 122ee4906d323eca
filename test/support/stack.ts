/**
 * Test support: a real sandbox (every upstream a real HTTP server on port 0) and a real gateway
 * process-in-test on port 0, with its logs captured. No mocks.
 *
 * Every stack is also a suite-wide canary and isolation check (issues 5 and 6). Unless a test names
 * its own, each upstream gets a distinct random canary credential (the sandbox accepts those, the
 * gateway is given them); the sandbox tells the stack of every request's headers as it arrives
 * (across `resetStats()`, beyond its 1,000-entry ring); the stack keeps every GraphQL response its
 * helpers (`gql`, `post`) receive. On close it checks that no upstream received another upstream's
 * credential, and that no credential (raw, URL- or base64-encoded, or inside a Basic header; shipping's
 * OAuth access tokens included) appears in any of those responses, any trace (`/traces` and
 * `/traces/{id}`), `/metrics` or the captured logs. A finding makes `close()` throw.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CREDENTIAL_OWNER as SANDBOX_CREDENTIAL_OWNER, startSandbox, type Sandbox, type SandboxCredentials, type SandboxOptions, type UpstreamName } from '../../sandbox/index.js';
import { materialise } from '../../src/observability/index.js';
import { startTributary, type StartOptions, type Tributary } from '../../src/main.js';
import { BASIC_PAIRS, CREDENTIAL_VARIABLES, credentialEnv, OAUTH_TOKEN_ROUTES, upstreamUrlEnv } from './definitions.js';

export const OPERATIONS = {
  ProductPage: readFileSync(new URL('../../operations/ProductPage.graphql', import.meta.url), 'utf8'),
  CategoryPage: readFileSync(new URL('../../operations/CategoryPage.graphql', import.meta.url), 'utf8'),
  CheckoutQuote: readFileSync(new URL('../../operations/CheckoutQuote.graphql', import.meta.url), 'utf8'),
  Viewer: readFileSync(new URL('../../operations/Viewer.graphql', import.meta.url), 'utf8'),
  PlaceOrder: readFileSync(new URL('../../operations/PlaceOrder.graphql', import.meta.url), 'utf8'),
};

export interface Stack {
  readonly sandbox: Sandbox;
  readonly gateway: Tributary;
  readonly url: string;
  /** The credentials the sandbox accepted at start (canaries unless the test named its own). */
  readonly credentials: Readonly<SandboxCredentials>;
  /** Every log line the gateway wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The raw log text. */
  logText(): string;
  /** The request log line of a request id, once the gateway has written it (it does when the response is done). */
  requestLog(requestId: string): Promise<Record<string, unknown>>;
  gql(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResponse>;
  resetStats(): void;
  /** Closes the gateway and the sandbox, after the canary and isolation checks; throws what they found. */
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

/** Which upstream owns each credential the sandbox accepts (by credential key), from the sandbox's descriptors. */
export const CREDENTIAL_OWNER: Readonly<Record<string, UpstreamName>> = SANDBOX_CREDENTIAL_OWNER;

const canary = (name: string) => `canary-${name}-${randomBytes(8).toString('hex')}`;

/** A distinct random canary for every credential the sandbox accepts (`canary-<key>-<hex>`), by credential key. */
export function canaryCredentials(): SandboxCredentials {
  return Object.fromEntries(Object.keys(CREDENTIAL_OWNER).map((k) => [k, canary(k)]));
}

/**
 * The gateway's credential variables for `credentials` (by sandbox key): every variable any definition
 * or sandbox upstream declares, a variable no sandbox upstream accepts getting a canary of its own.
 */
export function canaryEnv(credentials: Readonly<SandboxCredentials>): Record<string, string> {
  const env = credentialEnv(credentials);
  for (const v of CREDENTIAL_VARIABLES) env[v.env] ??= canary(v.env);
  return env;
}

/** Where a text the gateway produced came from (a response, a trace...), and the text. */
export interface Captured {
  readonly what: string;
  readonly text: string;
}

/** The responses received per gateway URL, while its stack is open. */
const captures = new Map<string, Captured[]>();

/**
 * POST a GraphQL request as current clients do (graphql-http, urql, Apollo Client 4): preferring
 * application/graphql-response+json, so a request error is a 4xx (under application/json it is a 200).
 */
export async function post(url: string, payload: unknown, headers: Record<string, string> = {}): Promise<GqlResponse> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json;q=0.9', ...headers },
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  const text = await res.text();
  const captured = captures.get(url);
  if (captured) {
    let head = '';
    for (const [k, v] of res.headers) head += `${k}: ${v}\n`;
    captured.push({ what: `response ${res.status} ${res.headers.get('x-request-id')}`, text: `${head}\n${text}` });
  }
  let body: GqlResponse['body'] = {};
  try {
    body = JSON.parse(text);
  } catch {
    // leave empty: the test will see `text`
  }
  return { status: res.status, headers: res.headers, text, body };
}

/**
 * Every credential value each upstream has owned during the stack's life (configured, rotated,
 * issued), and the forms each travels or could leak in.
 */
class CredentialBook {
  private readonly owned = new Map<string, Set<string>>();

  add(owner: string, value: string | undefined): void {
    if (!value) return;
    let set = this.owned.get(owner);
    if (!set) this.owned.set(owner, (set = new Set()));
    const basic = (s: string) => Buffer.from(s).toString('base64');
    for (const form of [value, encodeURIComponent(value), basic(value)]) set.add(form);
  }

  /** A `user:pass` pair, as HTTP Basic carries it (RFC 6749 clients URL-encode each part first). */
  addPair(owner: string, user: string | undefined, pass: string | undefined): void {
    if (!user || !pass) return;
    this.add(owner, user);
    this.add(owner, pass);
    const set = this.owned.get(owner)!;
    set.add(Buffer.from(`${user}:${pass}`).toString('base64'));
    set.add(Buffer.from(`${encodeURIComponent(user)}:${encodeURIComponent(pass)}`).toString('base64'));
  }

  /** Credential values by the gateway's variable name (each owned by the upstream that declares it). */
  addAll(byEnv: Readonly<Record<string, string | undefined>>): void {
    const owner = (env: string) => CREDENTIAL_VARIABLES.find((v) => v.env === env)?.owner ?? env;
    for (const [env, value] of Object.entries(byEnv)) this.add(owner(env), value);
    for (const [u, p] of BASIC_PAIRS) this.addPair(owner(u), byEnv[u], byEnv[p]);
  }

  /** Each owner's forms. */
  entries(): [string, string[]][] {
    return [...this.owned].map(([owner, forms]) => [owner, [...forms]]);
  }
}

/** The credentials the gateway is configured with, from its env (values, and `_FILE` contents), by variable name. */
function credentialsInEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { env: name } of CREDENTIAL_VARIABLES) {
    if (env[name]) out[name] = env[name];
    const file = env[`${name}_FILE`];
    if (file) {
      try {
        out[name] = readFileSync(file, 'utf8').trim();
      } catch {
        // the gateway reports an unreadable file itself
      }
    }
  }
  return out;
}

/** The stack's own trace store size: large enough that no stack's traffic evicts a trace before the close check reads it. */
const STACK_TRACE_STORE_SIZE = 10_000;

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const credentials: SandboxCredentials = { ...canaryCredentials() };
  for (const [k, v] of Object.entries(opts.sandbox?.credentials ?? {})) if (v !== undefined) credentials[k] = v;
  const sandbox = await startSandbox({ portBase: 0, seed: 42, ...opts.sandbox, credentials });
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

  // The gateway is given the sandbox's credentials, unless the test configures one itself (a value or a file).
  const given = opts.env ?? {};
  const env: Record<string, string> = { NODE_ENV: 'test', LOG_LEVEL: 'info' };
  for (const [name, value] of Object.entries(canaryEnv(credentials))) {
    if (given[name] === undefined && given[`${name}_FILE`] === undefined) env[name] = value;
  }
  // Production needs every upstream URL: the sandbox's (the gateway is also handed them as base URLs).
  const urlEnv = upstreamUrlEnv(sandbox.urls);
  if (given.NODE_ENV === 'production' && !Object.keys(urlEnv).some((k) => given[k] !== undefined)) Object.assign(env, urlEnv);
  // Each stack its own workflow log (an embedded file in a fresh directory), unless the test names one.
  if (given.WORKFLOW_DIR === undefined && given.DATABASE_URL === undefined) env.WORKFLOW_DIR = mkdtempSync(join(tmpdir(), 'tributary-workflows-'));
  const ownTraceStore = given.TRACE_STORE_SIZE === undefined;
  if (ownTraceStore) env.TRACE_STORE_SIZE = String(STACK_TRACE_STORE_SIZE);
  Object.assign(env, given);

  const watch = watchCredentials(sandbox, credentials, env);

  let gateway: Tributary;
  try {
    gateway = await startTributary({ env, baseUrls: sandbox.urls, port: 0, host: '127.0.0.1', logDestination: destination, ...opts.start });
  } catch (e) {
    await sandbox.close();
    throw e;
  }
  const url = gateway.url;
  const responses: Captured[] = [];
  captures.set(url, responses);
  return {
    sandbox,
    gateway,
    url,
    credentials,
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
      captures.delete(url);
      let texts: Captured[] = [];
      const problems: string[] = [];
      try {
        texts = await observed(gateway, env, ownTraceStore, problems);
      } finally {
        await gateway.close();
      }
      problems.push(...watch.leaks([...texts, ...responses, { what: 'the logs', text: lines.join('\n') }]));
      watch.stop();
      await sandbox.close();
      if (problems.length) throw new Error(`canary or isolation check failed:\n${problems.join('\n')}`);
    },
  };
}

export interface CredentialWatch {
  /** The leaks found so far: foreign credentials the upstreams received, and credentials in `texts`. */
  leaks(texts: readonly Captured[]): string[];
  stop(): void;
}

/**
 * Watch a sandbox for credential leaks from now on: every header every upstream receives (once per
 * distinct value, with the first route it reached), and every credential value each upstream owns
 * (`credentials`, the gateway's `env`, rotations through `setCredentials`, shipping's issued tokens).
 *
 * @example
 * const watch = watchCredentials(sandbox, sandboxCredentials, gatewayEnv);
 * // ...traffic...
 * expect(watch.leaks([{ what: 'the logs', text: logs }])).toEqual([]);
 */
export function watchCredentials(sandbox: Sandbox, credentials: SandboxCredentials, env: Record<string, string>): CredentialWatch {
  const book = new CredentialBook();
  book.addAll(credentialEnv(credentials));
  book.addAll(credentialsInEnv(env));
  // Rotations during the test: every value an upstream accepts is its own.
  const current: SandboxCredentials = { ...credentials };
  for (const u of Object.values(sandbox.upstreams)) {
    const set = u.setCredentials.bind(u);
    u.setCredentials = (c) => {
      set(c);
      Object.assign(current, Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));
      book.addAll(credentialEnv(current));
    };
  }
  const heard = new Map<string, Map<string, string>>();
  const unsubscribe = Object.values(sandbox.upstreams).map((u) => {
    const seen = new Map<string, string>();
    heard.set(u.name, seen);
    return u.onRecord((e) => {
      for (const [h, v] of Object.entries(e.headers)) {
        const key = `${h}: ${v}`;
        if (!seen.has(key)) seen.set(key, e.route);
      }
    });
  });
  return {
    leaks(texts) {
      // An OAuth2 upstream's access tokens are its credentials too: taken from what it received
      // (on every route but the token route, where the client authenticates with its id and secret).
      for (const { owner, route: tokenRoute } of OAUTH_TOKEN_ROUTES) {
        for (const [key, route] of heard.get(owner) ?? []) {
          const token = /^authorization: Bearer (.+)$/i.exec(key)?.[1];
          if (token && route !== tokenRoute && !route.endsWith(' *')) book.add(owner, token);
        }
      }
      return credentialLeaks(heard, book.entries(), texts);
    },
    stop() {
      for (const u of unsubscribe) u();
    },
  };
}

/** Run `fn` over `items`, `width` at a time. */
async function eachLimited<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/**
 * What the gateway shows about itself: `/metrics`, the `/traces` list and every stored trace. Read over
 * HTTP (with the admin and metrics tokens the test configured); in production without an admin token
 * the routes answer 404, so the stored traces are rendered in-process exactly as the route renders them.
 */
async function observed(gateway: Tributary, env: Record<string, string>, ownTraceStore: boolean, problems: string[]): Promise<Captured[]> {
  const out: Captured[] = [];
  const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
  const get = async (path: string, token: string | undefined) => {
    const res = await fetch(`${gateway.url}${path}`, { headers: { accept: 'application/json', ...bearer(token) } });
    return { status: res.status, text: await res.text() };
  };
  const metrics = await get('/metrics', env.METRICS_TOKEN);
  out.push({ what: '/metrics', text: metrics.text });

  const { store, masker } = gateway.observability;
  if (ownTraceStore && store.size >= store.capacity) problems.push(`the trace store filled up (${store.capacity}): older traces were not checked`);
  const admin = gateway.config.mode === 'production' ? env.ADMIN_TOKEN : undefined;
  const list = await get('/traces', admin);
  const records = store.list();
  if (list.status === 200) {
    out.push({ what: '/traces', text: list.text });
    // Each distinct id over HTTP (it serves the newest with that id); an older record with a reused id, in-process.
    const ids = [...new Set((JSON.parse(list.text) as { traces: { requestId: string }[] }).traces.map((t) => t.requestId))];
    await eachLimited(ids, 16, async (id) => {
      const t = await get(`/traces/${encodeURIComponent(id)}`, admin);
      out.push({ what: `/traces/${id} (${t.status})`, text: t.text });
    });
    const newest = new Set<string>();
    for (const r of records) {
      if (!newest.has(r.requestId)) newest.add(r.requestId);
      else out.push({ what: `trace ${r.requestId} (an older one with the same id)`, text: JSON.stringify(materialise(r, masker, performance.timeOrigin + r.startedAt)) });
    }
  } else {
    for (const r of records) out.push({ what: `trace ${r.requestId}`, text: JSON.stringify(materialise(r, masker, performance.timeOrigin + r.startedAt)) });
  }
  return out;
}

/**
 * What went where it must not: a header an upstream received that carries another upstream's
 * credential, or any upstream's credential in a text the gateway produced (a response, a trace,
 * `/metrics`, a log line).
 *
 * @param heard per upstream, every `header: value` it received, with a route it was sent to
 * @param owned per upstream, the forms of every credential it owned
 */
export function credentialLeaks(heard: ReadonlyMap<string, ReadonlyMap<string, string>>, owned: readonly (readonly [string, readonly string[]])[], texts: readonly Captured[]): string[] {
  const leaks: string[] = [];
  for (const [name, headers] of heard) {
    const foreign = owned.filter(([owner]) => owner !== name);
    for (const [line, route] of headers) {
      const header = line.slice(0, line.indexOf(':'));
      for (const [owner, secrets] of foreign) {
        if (secrets.some((secret) => line.includes(secret))) leaks.push(`${name} received ${owner}'s credential in ${header} (${route})`);
      }
    }
  }
  for (const { what, text } of texts) {
    for (const [owner, secrets] of owned) if (secrets.some((secret) => text.includes(secret))) leaks.push(`${owner}'s credential is in ${what}`);
  }
  return leaks;
}
