/** Public types of the sandbox shop (re-exported by sandbox/index.ts). */

/** The name of a sandbox upstream: its file's name in `sandbox/upstreams/` (see `sandboxUpstreamNames()`). */
export type UpstreamName = string;

/**
 * Credential values by credential key (`pricingToken`, `taxPassword`, ...). Each sandbox upstream
 * declares its keys, their defaults and the environment variable each is read from.
 */
export type SandboxCredentials = Record<string, string>;

export type DriftKind = 'rename' | 'type' | 'missing' | 'extra';

/** What happens to an answer whose side effect was applied (the `afterEffect` fault). */
export type LostAnswer = 'hang' | 'reset' | 'error' | 'delay';

export interface FaultSpec {
  /** Added to every answer (on top of the upstream's latency). */
  latencyMs?: number;
  /** Extra latency with a probability (e.g. {probability: 0.01, ms: 400}). */
  spike?: { probability: number; ms: number };
  /** Answer `status` with {"message":"injected fault"}, optionally with a Retry-After header. */
  error?: { probability: number; status: number; retryAfterS?: number };
  /** Destroy the socket without answering. */
  reset?: { probability: number };
  /** Never answer (the socket stays open until the client closes it or the server stops). */
  hang?: { probability: number };
  /** Answer 200 with a body that is not valid JSON (the real body cut in half). */
  malformed?: { probability: number };
  /** Send the body slowly, `bytesPerChunk` bytes every `intervalMs`. */
  trickle?: { bytesPerChunk: number; intervalMs: number };
  /** Hard down: every request's connection is destroyed as soon as it arrives. */
  down?: boolean;
  /** Serve a drifted response shape (see sandbox/README.md for each upstream). */
  drift?: DriftKind;
  /** Answer 302 with `Location: <redirect origin> + original path and query`. */
  redirect?: string;
  /**
   * The request is carried out (its side effect applied and kept for its Idempotency-Key), then its
   * answer is lost: `hang` never answers, `reset` destroys the socket, `error` answers `status`
   * (default 500) with {"message":"injected fault"}, `delay` sends the real answer `delayMs` later.
   */
  afterEffect?: { probability: number; outcome: LostAnswer; status?: number; delayMs?: number };
  /** Only apply to these route keys (e.g. ['POST /stock/lookup']); default: every business route. */
  routes?: string[];
  /** Apply to the next `times` matching requests only; then the spec is cleared. */
  times?: number;
}

export interface SandboxOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 4100 -> each upstream on base + its port offset; 0 means every upstream on an ephemeral port. */
  portBase?: number;
  /** Per upstream name, ms; names with no sandbox upstream are ignored. Defaults: each upstream's own. */
  latencyMs?: Partial<Record<UpstreamName, number>>;
  credentials?: Partial<SandboxCredentials>;
  /** shipping: OAuth2 access-token lifetime in seconds, default 300. */
  shippingTokenTtlS?: number;
  /** Per upstream name; names with no sandbox upstream are ignored. */
  faults?: Partial<Record<UpstreamName, FaultSpec>>;
  /** Seeds the PRNG used for fault probabilities (deterministic tests); default random. */
  seed?: number;
  /** Start only these upstreams (names with no sandbox upstream are ignored). */
  only?: readonly UpstreamName[];
  /**
   * The sandbox's clock, epoch ms (default Date.now): OAuth2 token expiry, reservation expiry,
   * idempotency-key retention and the timestamps of records. Lets tests move time without waiting.
   */
  now?: () => number;
}

export interface StatsEntry {
  method: string;
  /** Raw path with query, exactly as received. */
  path: string;
  /** Route key, e.g. 'GET /products/:id'; 'GET *' for a path that matches no route. */
  route: string;
  /** Epoch ms with sub-ms fraction (performance.timeOrigin + performance.now()). */
  start: number;
  /** When the response finished or the socket closed (same clock); 0 while the request is still open. */
  end: number;
  /** 0 if no response was sent (reset/hang/down). */
  status: number;
  /** Lower-cased request headers. */
  headers: Record<string, string>;
  /** The latency spike (ms) fault injection added to this request, when it drew one. */
  spikeMs?: number;
}

export interface Stats {
  /** Requests per route key. */
  counts: Record<string, number>;
  total: number;
  /** The most recent 1,000 requests, oldest first. */
  requests: StatsEntry[];
}

/** One Idempotency-Key an upstream has seen (in `GET /__records`). */
export interface IdempotencyRecord {
  key: string;
  /** Route key of the first request with this key. */
  route: string;
  /** How many times the route's effect ran for this key (1 unless something is wrong). */
  applied: number;
  /** How many later requests were answered with the first answer. */
  replays: number;
  /** How many later requests were refused with 409 for a different body. */
  conflicts: number;
  /** Status of the first answer. */
  status: number;
  /** When the key was first used (ISO 8601, by the sandbox clock). */
  firstSeenAt: string;
}

/** The books of an upstream (`GET /__records`): its own records, and the idempotency keys it has kept. */
export interface UpstreamRecords {
  idempotencyKeys: IdempotencyRecord[];
  [book: string]: unknown;
}

export interface SandboxUpstream {
  readonly name: UpstreamName;
  readonly url: string;
  readonly port: number;
  /** Business route keys of this upstream (valid values of FaultSpec.routes). */
  readonly routes: readonly string[];
  stats(): Stats;
  resetStats(): void;
  setLatency(ms: number): void;
  setFaults(f: FaultSpec | null): void;
  faults(): FaultSpec | null;
  /** Rotate: new values take effect immediately, old ones are refused. Keys of other upstreams are kept but unused. */
  setCredentials(c: Partial<SandboxCredentials>): void;
  /** What `GET /__records` answers. */
  records(): UpstreamRecords;
  /**
   * Call `listener` with every request recorded from now on, as it arrives (before it is answered):
   * unlike `stats()`, it survives `resetStats()` and is not limited to the last 1,000. The entry's
   * `end` and `status` are filled in later. Returns a function that removes the listener.
   */
  onRecord(listener: (entry: Readonly<StatsEntry>) => void): () => void;
  /** Close the listener and destroy open sockets (connection refused afterwards). */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  start(): Promise<void>;
}

export interface Sandbox {
  /** Base URL of each started upstream. */
  urls: Record<UpstreamName, string>;
  upstreams: Record<UpstreamName, SandboxUpstream>;
  /** A started upstream; throws when it was not started (or has no sandbox counterpart). */
  upstream(name: UpstreamName): SandboxUpstream;
  /** A started upstream's base URL; throws like `upstream`. */
  url(name: UpstreamName): string;
  close(): Promise<void>;
}
