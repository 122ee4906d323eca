/**
 * The vocabulary of an upstream definition. `upstreams/*.ts` files are written in these types and
 * checked by `defineUpstream` (./define.ts); the engine (./connector.ts) executes them.
 */
import type { Static, TSchema } from '@sinclair/typebox';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a request builder is given. Reading `user` marks the call as varying by user (see cache scope). */
export interface CallContext {
  readonly user: { readonly id: string } | null;
}

/** One HTTP call, described as data. The engine encodes `params` as single path segments and `query` values. */
export interface RequestSpec {
  /** Path template relative to the base URL, with `:name` placeholders filled from `params`. */
  readonly path: string;
  readonly params?: Readonly<Record<string, string | number>>;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly body?: unknown;
}

/** Secrets come from the environment: `env` names the variable; `<env>_FILE` names a file that holds it. */
export interface SecretRef {
  readonly env: string;
  /** Used when the variable is unset and the gateway runs against the sandbox (never in production). */
  readonly sandboxDefault?: string;
}

export type AuthDef =
  | { readonly scheme: 'none' }
  | { readonly scheme: 'bearer'; readonly token: SecretRef }
  | { readonly scheme: 'apiKey'; readonly header: string; readonly key: SecretRef }
  | { readonly scheme: 'basic'; readonly username: SecretRef; readonly password: SecretRef }
  | {
      readonly scheme: 'oauth2ClientCredentials';
      /** Token endpoint, relative to the upstream's base URL. */
      readonly tokenPath: string;
      readonly clientId: SecretRef;
      readonly clientSecret: SecretRef;
    };

export type CacheScope = 'public' | 'user' | 'none';

export interface CachePolicyInput {
  /** How long a value is fresh. An upstream's `Cache-Control: max-age` (or `s-maxage`) can only lower it. */
  readonly ttlMs: number;
  /** `public`: shared by everyone; `user`: keyed by the signed-in user; `none`: never cached. */
  readonly scope: CacheScope;
  /** After `ttlMs`, serve the stale value for this long while one background call refreshes it. */
  readonly staleWhileRevalidateMs?: number;
  /** After `ttlMs`, keep the value this long to serve it when the upstream fails (with `onError: 'stale'`). */
  readonly staleIfErrorMs?: number;
}

/**
 * What a failing call gives its fields: `null` (and an error naming the upstream), a declared
 * fallback value (no error), or the last good value from the cache (`stale`, within `staleIfErrorMs`;
 * an error when there is none).
 */
export type OnErrorPolicy = 'null' | 'stale' | { readonly fallback: unknown };

export interface HedgePolicyInput {
  /**
   * Fixed delay before the second attempt. Without it the delay adapts: the `percentile` of the
   * upstream's recent latencies, clamped to [minDelayMs, maxDelayMs].
   */
  readonly delayMs?: number;
  readonly percentile?: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface RetryPolicyInput {
  /** Total attempts including the first. 1 disables retries. */
  readonly attempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** HTTP statuses that are worth another attempt. */
  readonly statuses?: readonly number[];
  /** Longest `Retry-After` we are willing to honour; longer ones are not retried. */
  readonly maxRetryAfterMs?: number;
}

export interface BreakerPolicyInput {
  /** Failure ratio (0..1) over `windowMs` that opens the circuit. */
  readonly failureRatio?: number;
  readonly windowMs?: number;
  /** Calls needed in the window before the ratio counts. */
  readonly minimumCalls?: number;
  /** How long the circuit stays open before one half-open probe is let through. */
  readonly halfOpenAfterMs?: number;
  /**
   * Failed calls in a row that open the circuit whatever the ratio (Envoy's outlier detection ejects
   * after 5 consecutive 5xx): a hard-down upstream is cut off at once even when the window still
   * holds the successes of healthy traffic. `false` counts only the ratio.
   */
  readonly consecutiveFailures?: number | false;
}

export interface UpstreamPolicyInput {
  /** Per attempt. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicyInput;
  readonly breaker?: BreakerPolicyInput | false;
  /** Calls in flight to this upstream at once (a bulkhead); more wait in a bounded queue. */
  readonly maxConcurrency?: number;
  readonly maxQueue?: number;
  /** Largest response body accepted; larger ones are aborted. */
  readonly maxResponseBytes?: number;
  /** Keep-alive connections in the pool. */
  readonly connections?: number;
  /** Hedged reads: a second attempt when the first is slow; the first answer wins, the loser is aborted. */
  readonly hedge?: HedgePolicyInput | false;
  /** Default for every endpoint of the upstream; an endpoint may override it. */
  readonly onError?: OnErrorPolicy;
}

interface EndpointCommon<Schema extends TSchema> {
  readonly description?: string;
  readonly method: HttpMethod;
  /** The JSON schema the upstream's response must match (TypeBox). Compiled once. */
  readonly response: Schema;
  readonly cache?: CachePolicyInput;
  /**
   * A non-idempotent method (POST...) is only retried when the endpoint declares it safe, e.g. a
   * lookup that happens to be sent as POST.
   */
  readonly retrySafe?: boolean;
  readonly timeoutMs?: number;
  readonly onError?: OnErrorPolicy;
  /**
   * Write calls (`client.<upstream>.<endpoint>.call`): what the caller may learn from a refusal (a
   * 4xx answer), e.g. 402 `card_declined` or 409 `{ message, sku }`. Never shown to clients.
   */
  readonly errorDetail?: ErrorDetailSpec<TSchema>;
}

/** A small, flat detail of a refusal: scalar fields only (the engine keeps at most 8, strings cut to 200 characters). */
export type ErrorDetail = Readonly<Record<string, string | number | boolean | null>>;

/** How to read a refusal's detail: the refusal body's schema (TypeBox), and the fields kept from it. */
export interface ErrorDetailSpec<S extends TSchema> {
  readonly response: S;
  /** A method, so that a spec typed for its own schema is accepted where any schema is. */
  pick(body: Static<S>, status: number): ErrorDetail;
}

/** Options of one write call. */
export interface WriteCallOptions {
  /**
   * Sent as `Idempotency-Key`: the upstream applies the call once per key, so the call is retried
   * (timeouts, 5xx, resets, per the upstream's policy). Without one, a non-`retrySafe` POST is sent
   * exactly once.
   */
  readonly idempotencyKey?: string | undefined;
}

/** An endpoint that answers many keys in one call (`GET /v1/prices?skus=A,B`). */
export interface BatchEndpointSpec<K, Schema extends TSchema, Item, V, C extends 'one' | 'many' = 'one' | 'many'>
  extends EndpointCommon<Schema> {
  /** Largest number of keys one call may carry; bigger batches are split. */
  readonly maxBatchSize: number;
  readonly request: (keys: readonly K[], ctx: CallContext) => RequestSpec;
  /** The items of a validated response. */
  readonly items: (body: Static<Schema>) => readonly Item[];
  /** Which key an item answers (compared with `keyId(key)`). */
  readonly itemKey: (item: Item) => string;
  /** Upstream item → our shape. This is where upstream field names are mapped. */
  readonly map: (item: Item) => V;
  /** `one`: each key has at most one item (missing → null). `many`: a list per key (missing → []). */
  readonly cardinality: C;
  readonly keyId?: (key: K) => string;
}

export interface BatchEndpointDef<K, Schema extends TSchema, Item, V, C extends 'one' | 'many' = 'one' | 'many'>
  extends BatchEndpointSpec<K, Schema, Item, V, C> {
  readonly kind: 'batch';
}

/** An endpoint called once per key (`GET /products/{id}`, or a POST with a body built from the key). */
export interface SingleEndpointSpec<K, Schema extends TSchema, V> extends EndpointCommon<Schema> {
  readonly request: (key: K, ctx: CallContext) => RequestSpec;
  readonly map: (body: Static<Schema>, key: K) => V;
  /** A 404 means "no such thing": the value is null, not an error. */
  readonly notFoundIsNull?: boolean;
  readonly keyId?: (key: K) => string;
}

export interface SingleEndpointDef<K, Schema extends TSchema, V> extends SingleEndpointSpec<K, Schema, V> {
  readonly kind: 'single';
}

export type AnyEndpointDef = BatchEndpointDef<any, any, any, any, any> | SingleEndpointDef<any, any, any>;

export interface UpstreamDefInput<E extends Record<string, AnyEndpointDef>> {
  readonly name: string;
  readonly description?: string;
  /** Environment variable that holds the base URL, e.g. `UPSTREAM_PRICING_URL`. */
  readonly baseUrlEnv: string;
  readonly auth: AuthDef;
  readonly policy?: UpstreamPolicyInput;
  /** Response fields masked wherever a body is shown (traces at debug level). */
  readonly sensitiveFields?: readonly string[];
  /** Query parameters whose values are masked wherever a call's path is shown (traces). */
  readonly sensitiveParams?: readonly string[];
  /** `enforce`: a response that breaks its schema is an error. `report`: log and count, pass it through. */
  readonly contract?: 'enforce' | 'report';
  readonly endpoints: E;
}

/** Key and value types of an endpoint, for typing the per-request clients. */
export type EndpointKey<D> = D extends { readonly kind: 'batch'; readonly request: (keys: readonly (infer K)[], ctx: CallContext) => RequestSpec }
  ? K
  : D extends { readonly kind: 'single'; readonly request: (key: infer K, ctx: CallContext) => RequestSpec }
    ? K
    : never;
type Mapped<D> = D extends { readonly map: (...args: any[]) => infer V } ? V : never;
export type EndpointValue<D> = D extends { readonly kind: 'batch'; readonly cardinality: 'many' }
  ? Mapped<D>[]
  : Mapped<D> | null;
