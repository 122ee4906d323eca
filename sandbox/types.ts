/** Public types of the sandbox shop (re-exported by sandbox/index.ts). */

export type UpstreamName = 'catalog' | 'pricing' | 'inventory' | 'reviews' | 'recommendations' | 'shipping' | 'tax' | 'accounts';

/** Every upstream, in port order: catalog = portBase + 1 ... accounts = portBase + 8. */
export const UPSTREAM_NAMES: readonly UpstreamName[] = Object.freeze([
  'catalog',
  'pricing',
  'inventory',
  'reviews',
  'recommendations',
  'shipping',
  'tax',
  'accounts',
] as const);

export interface SandboxCredentials {
  /** pricing: `Authorization: Bearer <pricingToken>` */
  pricingToken: string;
  /** inventory: `X-Api-Key: <inventoryApiKey>` */
  inventoryApiKey: string;
  /** reviews: `Authorization: Bearer <reviewsToken>` */
  reviewsToken: string;
  /** recommendations: `X-Api-Key: <recommendationsApiKey>` */
  recommendationsApiKey: string;
  /** shipping: OAuth2 client credentials for `POST /oauth/token` */
  shippingClientId: string;
  shippingClientSecret: string;
  /** tax: HTTP Basic */
  taxUsername: string;
  taxPassword: string;
  /** accounts: `Authorization: Bearer <accountsToken>` */
  accountsToken: string;
}

export type DriftKind = 'rename' | 'type' | 'missing' | 'extra';

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
  /** Only apply to these route keys (e.g. ['POST /stock/lookup']); default: every business route. */
  routes?: string[];
}

export interface SandboxOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 4100 -> catalog 4101 ... accounts 4108; 0 means every upstream on an ephemeral port. */
  portBase?: number;
  /** Defaults: catalog 15, pricing 10, inventory 20, reviews 10, recommendations 60, shipping 25, tax 15, accounts 15. */
  latencyMs?: Partial<Record<UpstreamName, number>>;
  credentials?: Partial<SandboxCredentials>;
  /** OAuth2 access-token lifetime in seconds, default 300. */
  shippingTokenTtlS?: number;
  faults?: Partial<Record<UpstreamName, FaultSpec>>;
  /** Seeds the PRNG used for fault probabilities (deterministic tests); default random. */
  seed?: number;
  /** Start only these upstreams. */
  only?: UpstreamName[];
  /**
   * Clock used for OAuth2 token expiry, epoch ms (default Date.now). Lets tests expire tokens
   * without waiting.
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

export interface SandboxUpstream {
  readonly name: UpstreamName;
  readonly url: string;
  readonly port: number;
  stats(): Stats;
  resetStats(): void;
  setLatency(ms: number): void;
  setFaults(f: FaultSpec | null): void;
  faults(): FaultSpec | null;
  /** Rotate: new values take effect immediately, old ones are refused. */
  setCredentials(c: Partial<SandboxCredentials>): void;
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
  urls: Record<UpstreamName, string>;
  upstreams: Record<UpstreamName, SandboxUpstream>;
  close(): Promise<void>;
}
