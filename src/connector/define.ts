/**
 * `defineUpstream`: checks an upstream definition when it is defined (a wrong definition fails at
 * start-up, with a message that states the contract and the value received), and resolves every
 * default in one block.
 */
import type { TSchema } from '@sinclair/typebox';
import { ConfigurationError } from '../errors.js';
import type {
  AnyEndpointDef,
  AuthDef,
  BatchEndpointDef,
  BatchEndpointSpec,
  CachePolicyInput,
  OnErrorPolicy,
  SingleEndpointDef,
  SingleEndpointSpec,
  UpstreamDefInput,
  UpstreamPolicyInput,
} from './types.js';

/** Every default of an upstream's policy, with units. Change a default here and nowhere else. */
export const POLICY_DEFAULTS = {
  timeoutMs: 2_000, // per attempt
  retry: {
    attempts: 3, // including the first
    baseDelayMs: 25, // first backoff ceiling; full jitter picks in [0, ceiling)
    maxDelayMs: 1_000, // backoff ceiling never grows past this
    statuses: [408, 429, 500, 502, 503, 504] as readonly number[],
    maxRetryAfterMs: 2_000, // a longer Retry-After is not waited for
  },
  retryBudget: {
    ratio: 0.2, // retries may add at most 20% of recent first attempts
    minPerWindow: 10, // ...but always allow a few, so a quiet upstream can still retry
    windowMs: 10_000,
  },
  breaker: {
    failureRatio: 0.5, // of calls in the window
    windowMs: 10_000,
    minimumCalls: 20, // in the window, before the ratio counts
    halfOpenAfterMs: 5_000, // open → one probe
    // Failed calls in a row that open it whatever the ratio (Envoy's outlier detection ejects after
    // 5 consecutive 5xx): off unless an upstream declares it, as turning it on for every upstream
    // changes when every breaker opens. 5 is the count to declare for a hard-down upstream to be
    // cut off at once; at 10 % failures, 5 in a row happen about once in 100,000 calls.
    consecutiveFailures: false as number | false,
  },
  maxConcurrency: 64, // calls in flight per upstream
  maxQueue: 1_000, // calls waiting for a slot; more are rejected at once
  maxResponseBytes: 5 * 1024 * 1024, // bytes
  connections: 64, // keep-alive sockets per upstream
  hedge: {
    percentile: 0.95, // of recent successful attempt durations
    minDelayMs: 10, // never hedge sooner than this
    maxDelayMs: 500, // never wait longer than this before hedging
  },
} as const;

export interface ResolvedPolicy {
  readonly timeoutMs: number;
  readonly retry: {
    readonly attempts: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
    readonly statuses: ReadonlySet<number>;
    readonly maxRetryAfterMs: number;
  };
  readonly breaker:
    | {
        readonly failureRatio: number;
        readonly windowMs: number;
        readonly minimumCalls: number;
        readonly halfOpenAfterMs: number;
        /** false: the ratio alone opens it. */
        readonly consecutiveFailures: number | false;
      }
    | false;
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  readonly maxResponseBytes: number;
  readonly connections: number;
  readonly hedge:
    | { readonly delayMs: number | undefined; readonly percentile: number; readonly minDelayMs: number; readonly maxDelayMs: number }
    | false;
  readonly onError: OnErrorPolicy;
}

export interface UpstreamDef<E extends Record<string, AnyEndpointDef> = Record<string, AnyEndpointDef>>
  extends UpstreamDefInput<E> {
  readonly resolvedPolicy: ResolvedPolicy;
  readonly contract: 'enforce' | 'report';
}

const NAME = /^[a-z][a-zA-Z0-9]*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;

function fail(where: string, contract: string, received: unknown): never {
  let shown: string;
  try {
    shown = typeof received === 'function' ? 'a function' : JSON.stringify(received) ?? String(received);
  } catch {
    shown = String(received);
  }
  throw new ConfigurationError(`${where} must be ${contract}, but received: ${shown}`);
}

function positiveInt(where: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    fail(where, allowZero ? 'an integer >= 0' : 'an integer >= 1', value);
  }
  return value;
}

function ratio(where: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail(where, 'a number in (0, 1]', value);
  return value;
}

function consecutive(where: string, value: unknown): number | false {
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) fail(where, 'an integer >= 1, or false', value);
  return value;
}

function checkSecret(where: string, ref: unknown): void {
  const r = ref as { env?: unknown } | undefined;
  if (!r || typeof r.env !== 'string' || !ENV_NAME.test(r.env)) {
    fail(where, 'a secret reference { env: "UPPER_CASE_NAME" }', ref);
  }
}

function checkAuth(where: string, auth: AuthDef): void {
  switch (auth?.scheme) {
    case 'none':
      return;
    case 'bearer':
      return checkSecret(`${where}.token`, auth.token);
    case 'apiKey':
      if (typeof auth.header !== 'string' || !HEADER_NAME.test(auth.header)) fail(`${where}.header`, 'an HTTP header name', auth.header);
      return checkSecret(`${where}.key`, auth.key);
    case 'basic':
      checkSecret(`${where}.username`, auth.username);
      return checkSecret(`${where}.password`, auth.password);
    case 'oauth2ClientCredentials':
      if (typeof auth.tokenPath !== 'string' || !auth.tokenPath.startsWith('/')) fail(`${where}.tokenPath`, 'a path starting with "/"', auth.tokenPath);
      checkSecret(`${where}.clientId`, auth.clientId);
      return checkSecret(`${where}.clientSecret`, auth.clientSecret);
    default:
      fail(`${where}.scheme`, 'one of none, bearer, apiKey, basic, oauth2ClientCredentials', (auth as { scheme?: unknown })?.scheme);
  }
}

function checkCache(where: string, cache: CachePolicyInput | undefined): void {
  if (cache === undefined) return;
  positiveInt(`${where}.ttlMs`, cache.ttlMs);
  if (!['public', 'user', 'none'].includes(cache.scope)) fail(`${where}.scope`, 'one of public, user, none', cache.scope);
  if (cache.staleWhileRevalidateMs !== undefined) positiveInt(`${where}.staleWhileRevalidateMs`, cache.staleWhileRevalidateMs, true);
  if (cache.staleIfErrorMs !== undefined) positiveInt(`${where}.staleIfErrorMs`, cache.staleIfErrorMs, true);
}

function checkOnError(where: string, onError: OnErrorPolicy | undefined, cache?: CachePolicyInput): void {
  if (onError === undefined || onError === 'null') return;
  if (onError === 'stale') {
    if (cache !== undefined && !(cache.staleIfErrorMs && cache.staleIfErrorMs > 0)) {
      fail(`${where} (onError "stale")`, 'paired with cache.staleIfErrorMs > 0', cache);
    }
    return;
  }
  if (typeof onError !== 'object' || onError === null || !('fallback' in onError)) {
    fail(where, '"null", "stale" or { fallback: value }', onError);
  }
}

function checkEndpoint(where: string, ep: AnyEndpointDef): void {
  const kind = (ep as { kind?: unknown } | undefined)?.kind;
  if (kind !== 'batch' && kind !== 'single') fail(`${where}.kind`, '"batch" or "single"', kind);
  if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(ep.method)) fail(`${where}.method`, 'an HTTP method', ep.method);
  if (typeof ep.request !== 'function') fail(`${where}.request`, 'a function that builds the request', ep.request);
  if (typeof ep.map !== 'function') fail(`${where}.map`, 'a function that maps the upstream shape to ours', ep.map);
  if (!ep.response || typeof ep.response !== 'object') fail(`${where}.response`, 'a TypeBox schema of the response', ep.response);
  if (ep.timeoutMs !== undefined) positiveInt(`${where}.timeoutMs`, ep.timeoutMs);
  checkCache(`${where}.cache`, ep.cache);
  checkOnError(`${where}.onError`, ep.onError, ep.cache);
  if (ep.onError === 'stale' && !ep.cache) fail(`${where}.onError`, 'paired with a cache policy when "stale"', ep.onError);
  if (ep.errorDetail !== undefined) {
    const d = ep.errorDetail as { response?: unknown; pick?: unknown } | null;
    if (!d || typeof d.response !== 'object' || d.response === null) fail(`${where}.errorDetail.response`, 'a TypeBox schema of the refusal body', d?.response);
    if (typeof d.pick !== 'function') fail(`${where}.errorDetail.pick`, 'a function returning the detail kept from a refusal', d.pick);
    if (ep.kind !== 'single') fail(`${where}.errorDetail`, 'declared on a single endpoint (write calls are single calls)', ep.kind);
  }
  if (ep.kind === 'batch') {
    positiveInt(`${where}.maxBatchSize`, ep.maxBatchSize);
    if (typeof ep.items !== 'function') fail(`${where}.items`, 'a function returning the items of a response', ep.items);
    if (typeof ep.itemKey !== 'function') fail(`${where}.itemKey`, 'a function returning the key an item answers', ep.itemKey);
    if (ep.cardinality !== 'one' && ep.cardinality !== 'many') fail(`${where}.cardinality`, '"one" or "many"', ep.cardinality);
  }
}

/**
 * Define an upstream: validated now, defaults resolved now.
 *
 * @example
 * export default defineUpstream({
 *   name: 'pricing',
 *   baseUrlEnv: 'UPSTREAM_PRICING_URL',
 *   auth: { scheme: 'bearer', token: { env: 'PRICING_TOKEN' } },
 *   policy: { timeoutMs: 800 },
 *   endpoints: { prices: batchEndpoint({ ... }) },
 * });
 */
export function defineUpstream<E extends Record<string, AnyEndpointDef>>(input: UpstreamDefInput<E>): UpstreamDef<E> {
  const where = `upstream ${JSON.stringify(input?.name)}`;
  if (typeof input?.name !== 'string' || !NAME.test(input.name)) fail('upstream name', 'a camelCase identifier', input?.name);
  if (typeof input.baseUrlEnv !== 'string' || !ENV_NAME.test(input.baseUrlEnv)) fail(`${where}: baseUrlEnv`, 'an environment variable name', input.baseUrlEnv);
  checkAuth(`${where}: auth`, input.auth);
  if (input.contract !== undefined && input.contract !== 'enforce' && input.contract !== 'report') {
    fail(`${where}: contract`, '"enforce" or "report"', input.contract);
  }
  for (const list of ['sensitiveFields', 'sensitiveParams'] as const) {
    const v = input[list];
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === ''))) fail(`${where}: ${list}`, 'a list of non-empty names', v);
  }
  if (!input.endpoints || Object.keys(input.endpoints).length === 0) fail(`${where}: endpoints`, 'a non-empty object', input.endpoints);
  for (const [name, ep] of Object.entries(input.endpoints)) {
    if (!NAME.test(name)) fail(`${where}: endpoint name`, 'a camelCase identifier', name);
    checkEndpoint(`${where}: endpoints.${name}`, ep);
  }

  checkOnError(`${where}: policy.onError`, input.policy?.onError);
  const resolvedPolicy = resolvePolicy(where, input.policy ?? {});
  return Object.freeze({ ...input, contract: input.contract ?? 'enforce', resolvedPolicy });
}

/** Every default applied in one place; `where` prefixes validation messages. */
export function resolvePolicy(where: string, p: UpstreamPolicyInput): ResolvedPolicy {
  const d = POLICY_DEFAULTS;
  const r = p.retry ?? {};
  const attempts = positiveInt(`${where}: policy.retry.attempts`, r.attempts ?? d.retry.attempts);
  const statuses = r.statuses ?? d.retry.statuses;
  for (const s of statuses) if (!Number.isInteger(s) || s < 400 || s > 599) fail(`${where}: policy.retry.statuses`, 'HTTP error statuses (400..599)', statuses);
  let breaker: ResolvedPolicy['breaker'] = false;
  if (p.breaker !== false) {
    const b = p.breaker ?? {};
    breaker = {
      failureRatio: ratio(`${where}: policy.breaker.failureRatio`, b.failureRatio ?? d.breaker.failureRatio),
      windowMs: positiveInt(`${where}: policy.breaker.windowMs`, b.windowMs ?? d.breaker.windowMs),
      minimumCalls: positiveInt(`${where}: policy.breaker.minimumCalls`, b.minimumCalls ?? d.breaker.minimumCalls),
      halfOpenAfterMs: positiveInt(`${where}: policy.breaker.halfOpenAfterMs`, b.halfOpenAfterMs ?? d.breaker.halfOpenAfterMs),
      consecutiveFailures: consecutive(`${where}: policy.breaker.consecutiveFailures`, b.consecutiveFailures ?? d.breaker.consecutiveFailures),
    };
  }
  const resolvedPolicy: ResolvedPolicy = {
    timeoutMs: positiveInt(`${where}: policy.timeoutMs`, p.timeoutMs ?? d.timeoutMs),
    retry: {
      attempts,
      baseDelayMs: positiveInt(`${where}: policy.retry.baseDelayMs`, r.baseDelayMs ?? d.retry.baseDelayMs),
      maxDelayMs: positiveInt(`${where}: policy.retry.maxDelayMs`, r.maxDelayMs ?? d.retry.maxDelayMs),
      statuses: new Set(statuses),
      maxRetryAfterMs: positiveInt(`${where}: policy.retry.maxRetryAfterMs`, r.maxRetryAfterMs ?? d.retry.maxRetryAfterMs, true),
    },
    breaker,
    maxConcurrency: positiveInt(`${where}: policy.maxConcurrency`, p.maxConcurrency ?? d.maxConcurrency),
    maxQueue: positiveInt(`${where}: policy.maxQueue`, p.maxQueue ?? d.maxQueue, true),
    maxResponseBytes: positiveInt(`${where}: policy.maxResponseBytes`, p.maxResponseBytes ?? d.maxResponseBytes),
    connections: positiveInt(`${where}: policy.connections`, p.connections ?? d.connections),
    hedge: resolveHedge(where, p.hedge),
    onError: p.onError ?? 'null',
  };
  return resolvedPolicy;
}

function resolveHedge(where: string, h: UpstreamPolicyInput['hedge']): ResolvedPolicy['hedge'] {
  if (h === undefined || h === false) return false;
  const d = POLICY_DEFAULTS.hedge;
  const percentile = h.percentile ?? d.percentile;
  if (!(percentile > 0 && percentile < 1)) fail(`${where}: policy.hedge.percentile`, 'a number in (0, 1)', percentile);
  const minDelayMs = positiveInt(`${where}: policy.hedge.minDelayMs`, h.minDelayMs ?? d.minDelayMs);
  const maxDelayMs = positiveInt(`${where}: policy.hedge.maxDelayMs`, h.maxDelayMs ?? d.maxDelayMs);
  if (maxDelayMs < minDelayMs) fail(`${where}: policy.hedge.maxDelayMs`, `>= minDelayMs (${minDelayMs})`, maxDelayMs);
  return {
    delayMs: h.delayMs === undefined ? undefined : positiveInt(`${where}: policy.hedge.delayMs`, h.delayMs),
    percentile,
    minDelayMs,
    maxDelayMs,
  };
}

/**
 * The same upstream with some policies replaced (tests, benchmarks, per-deployment tuning).
 *
 * @example
 * const fastBreaker = withPolicy(inventory, { breaker: { minimumCalls: 5, halfOpenAfterMs: 200 } });
 */
export function withPolicy<E extends Record<string, AnyEndpointDef>>(def: UpstreamDef<E>, policy: UpstreamPolicyInput): UpstreamDef<E> {
  const merged: UpstreamPolicyInput = {
    ...def.policy,
    ...policy,
    retry: { ...def.policy?.retry, ...policy.retry },
    breaker: policy.breaker === false ? false : def.policy?.breaker === false && policy.breaker === undefined ? false : { ...(def.policy?.breaker || {}), ...(policy.breaker || {}) },
    hedge: policy.hedge === false ? false : policy.hedge === undefined ? def.policy?.hedge : { ...(def.policy?.hedge || {}), ...policy.hedge },
  };
  return defineUpstream({ ...def, policy: merged });
}

/** Declare a batch endpoint (keeps the key, item and value types inferred). */
export function batchEndpoint<K, S extends TSchema, Item, V, const C extends 'one' | 'many'>(
  def: BatchEndpointSpec<K, S, Item, V, C>,
): BatchEndpointDef<K, S, Item, V, C> {
  return { ...def, kind: 'batch' };
}

/** Declare an endpoint called once per key. */
export function singleEndpoint<K, S extends TSchema, V>(def: SingleEndpointSpec<K, S, V>): SingleEndpointDef<K, S, V> {
  return { ...def, kind: 'single' };
}
