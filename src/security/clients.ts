/**
 * API clients: named callers of the gateway (web, mobile, partner...) identified by an API key in the
 * `x-api-key` header. Keys are configured as SHA-256 hashes (never in clear), from the `CLIENTS`
 * variable (JSON) and/or the file named by `CLIENTS_FILE` (same JSON); a presented key is hashed and
 * compared with every configured hash in constant time.
 *
 * Shape (an array, or an object keyed by client name):
 *
 *     [{ "name": "web", "keySha256": "<64 hex>", "permissions": ["pii", "trace"],
 *        "operations": "any", "rateLimit": { "requests": 600, "perSeconds": 60 } }]
 *
 * Permissions: `pii` (may read `@pii` fields), `trace` (may receive `extensions.trace`), `write` (may
 * send mutations: place orders).
 * `operations`: `any` (ad-hoc documents allowed) or `persisted` (only the persisted manifest).
 * `rateLimit` is optional (no limit when absent); it counts operations (a batch of 10 counts 10).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import type { ClientIdentity } from '../server.js';

/** Permissions a client may hold. */
export const CLIENT_PERMISSIONS = ['pii', 'trace', 'write'] as const;
export type ClientPermission = (typeof CLIENT_PERMISSIONS)[number];

/** Which documents a client may send. */
export type OperationsPolicy = 'any' | 'persisted';

export interface RateLimit {
  /** Operations allowed per window (each operation of a batched request counts). */
  readonly requests: number;
  /** Window length in seconds. */
  readonly perSeconds: number;
}

/** One configured client (the key hash is kept inside the registry, not here). */
export interface ClientDefinition extends ClientIdentity {
  readonly name: string;
  readonly permissions: ReadonlySet<ClientPermission>;
  readonly operations: OperationsPolicy;
  readonly rateLimit: RateLimit | null;
}

/** What `describeClients` returns: one plain, serialisable row per client (no key material). */
export interface ClientSummary {
  readonly name: string;
  readonly permissions: ClientPermission[];
  /** Shorthand for `permissions.includes('pii')`. */
  readonly pii: boolean;
  /** Shorthand for `permissions.includes('write')`. */
  readonly write: boolean;
  readonly operations: OperationsPolicy;
  /** Shorthand for `operations === 'persisted'`. */
  readonly persistedOnly: boolean;
  readonly rateLimit: RateLimit | null;
}

/** Why a request was refused before GraphQL ran. */
export interface ClientRefusal {
  readonly status: 401 | 429;
  readonly code: 'UNAUTHENTICATED' | 'RATE_LIMITED';
  readonly message: string;
  readonly retryAfterSeconds?: number;
  /** The identified client's name (a 429), for the request's log line and trace; never its key. */
  readonly client?: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** The SHA-256 hex digest of an API key, as configured in `keySha256`. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

interface Entry {
  readonly def: ClientDefinition;
  readonly hash: Buffer;
}

function parseEntry(raw: unknown, where: string, nameFromKey?: string): Entry {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigurationError(`${where}: each client must be an object.`);
  const o = raw as Record<string, unknown>;
  const name = nameFromKey ?? o.name;
  if (typeof name !== 'string' || !NAME.test(name)) throw new ConfigurationError(`${where}: a client needs a "name" of letters, digits, "_" or "-".`);
  const at = `${where}: client ${JSON.stringify(name)}`;
  if ('key' in o) throw new ConfigurationError(`${at} has a clear-text "key"; configure "keySha256" (sha256 hex of the key) instead.`);
  const hash = typeof o.keySha256 === 'string' ? o.keySha256.toLowerCase() : '';
  if (!HEX64.test(hash)) throw new ConfigurationError(`${at} needs "keySha256": the 64-hex-digit SHA-256 of its API key.`);
  const perms = o.permissions ?? [];
  if (!Array.isArray(perms)) throw new ConfigurationError(`${at}: "permissions" must be an array.`);
  for (const p of perms) {
    if (!CLIENT_PERMISSIONS.includes(p as ClientPermission)) {
      throw new ConfigurationError(`${at}: unknown permission ${JSON.stringify(p)} (known: ${CLIENT_PERMISSIONS.join(', ')}).`);
    }
  }
  const operations = o.operations ?? 'any';
  if (operations !== 'any' && operations !== 'persisted') throw new ConfigurationError(`${at}: "operations" must be "any" or "persisted".`);
  let rateLimit: RateLimit | null = null;
  if (o.rateLimit !== undefined && o.rateLimit !== null) {
    const r = o.rateLimit as Record<string, unknown>;
    const requests = Number(r.requests);
    const perSeconds = Number(r.perSeconds ?? 1);
    if (!Number.isSafeInteger(requests) || requests < 1 || !Number.isFinite(perSeconds) || perSeconds <= 0) {
      throw new ConfigurationError(`${at}: "rateLimit" must be { "requests": integer >= 1, "perSeconds": number > 0 }.`);
    }
    rateLimit = { requests, perSeconds };
  }
  return {
    def: { name, permissions: new Set(perms as ClientPermission[]), operations, rateLimit },
    hash: Buffer.from(hash, 'hex'),
  };
}

function parseClients(text: string, where: string): Entry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ConfigurationError(`${where} is not valid JSON.`);
  }
  if (Array.isArray(data)) return data.map((c) => parseEntry(c, where));
  if (data && typeof data === 'object') return Object.entries(data).map(([k, c]) => parseEntry(c, where, k));
  throw new ConfigurationError(`${where} must be a JSON array or object of clients.`);
}

/** Reads the configured clients from `CLIENTS` and `CLIENTS_FILE`; a name or key hash used twice fails. */
function loadEntries(env: NodeJS.ProcessEnv): Entry[] {
  const entries: Entry[] = [];
  if (env.CLIENTS) entries.push(...parseClients(env.CLIENTS, 'CLIENTS'));
  if (env.CLIENTS_FILE) {
    let text: string;
    try {
      text = readFileSync(env.CLIENTS_FILE, 'utf8');
    } catch {
      throw new ConfigurationError('CLIENTS_FILE names a file that cannot be read.');
    }
    entries.push(...parseClients(text, 'CLIENTS_FILE'));
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const e of entries) {
    if (names.has(e.def.name)) throw new ConfigurationError(`Client ${JSON.stringify(e.def.name)} is configured twice.`);
    const h = e.hash.toString('hex');
    if (hashes.has(h)) throw new ConfigurationError(`Client ${JSON.stringify(e.def.name)} shares its API key with another client.`);
    names.add(e.def.name);
    hashes.add(h);
  }
  return entries;
}

/** A fixed-window counter per client (in memory, per gateway instance). */
class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  constructor(private readonly now: () => number) {}
  /** Seconds to wait when `n` more operations would pass the limit, else 0 (and they are counted). */
  take(name: string, limit: RateLimit, n = 1): number {
    const t = this.now();
    const len = limit.perSeconds * 1000;
    let w = this.windows.get(name);
    if (!w || t - w.start >= len) {
      w = { start: t, count: 0 };
      this.windows.set(name, w);
    }
    if (w.count + n > limit.requests) return Math.max(1, Math.ceil((w.start + len - t) / 1000));
    w.count += n;
    return 0;
  }
}

/** Where rate limits are counted across processes (`shared-rate-limit.ts`, through Redis). */
export interface SharedLimiter {
  /** Seconds to wait when `n` more operations (default 1) would pass the limit, else 0 (counted). */
  take(name: string, limit: RateLimit, n?: number): Promise<number>;
  close(): Promise<void>;
}

function limited(client: ClientDefinition, wait: number): ClientRefusal {
  return { status: 429, code: 'RATE_LIMITED', message: `Rate limit of client ${client.name} exceeded; retry later.`, retryAfterSeconds: wait, client: client.name };
}

/** The configured clients, with identification by API key and rate limiting. */
export class ClientRegistry {
  private readonly entries: readonly Entry[];
  private readonly limiter: RateLimiter;
  private shared: SharedLimiter | undefined;

  constructor(entries: readonly Entry[], now: () => number = Date.now) {
    this.entries = entries;
    this.limiter = new RateLimiter(now);
  }

  /** This process's own limiter (the shared one falls back to it when Redis is unavailable). */
  get localLimiter(): { take(name: string, limit: RateLimit, n?: number): number } {
    return this.limiter;
  }

  /** Count rate limits through `shared` (every process), instead of in this process alone. */
  shareLimits(shared: SharedLimiter): void {
    this.shared = shared;
  }

  /** Whether any client has a rate limit (a shared limiter is worth connecting). */
  get hasRateLimits(): boolean {
    return this.entries.some((e) => e.def.rateLimit !== null);
  }

  /** Whether any client is configured (when none is, requests are not identified and nothing is refused). */
  get enabled(): boolean {
    return this.entries.length > 0;
  }

  get clients(): readonly ClientDefinition[] {
    return this.entries.map((e) => e.def);
  }

  byName(name: string): ClientDefinition | undefined {
    return this.entries.find((e) => e.def.name === name)?.def;
  }

  /** The client whose key hash matches, comparing against every hash in constant time. */
  match(apiKey: string): ClientDefinition | null {
    const presented = createHash('sha256').update(apiKey, 'utf8').digest();
    let found: ClientDefinition | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(presented, e.hash) && !found) found = e.def;
    }
    return found;
  }

  /**
   * Identify a request from its `x-api-key` header. No clients configured: null (open). Otherwise a
   * missing or unknown key is refused with 401, and a client over its rate limit with 429. With a
   * shared limiter, a rate-limited client's answer is a promise (the count lives in Redis).
   */
  identify(apiKey: string | null | undefined): ClientDefinition | null | ClientRefusal | Promise<ClientDefinition | ClientRefusal> {
    if (!this.enabled) return null;
    if (!apiKey) return { status: 401, code: 'UNAUTHENTICATED', message: 'An API key is required (x-api-key header).' };
    const client = this.match(apiKey);
    if (!client) return { status: 401, code: 'UNAUTHENTICATED', message: 'The API key is not valid.' };
    if (client.rateLimit) {
      if (this.shared) return this.shared.take(client.name, client.rateLimit).then((wait) => (wait > 0 ? limited(client, wait) : client));
      const wait = this.limiter.take(client.name, client.rateLimit);
      if (wait > 0) return limited(client, wait);
    }
    return client;
  }

  /**
   * Counts `n` more operations against a client's rate limit: a batched request is identified (and
   * counted once) before its body is read, and its other operations are counted here once it is
   * parsed, so a batch of 10 costs 10. The refusal when they would pass the limit, else null.
   */
  chargeOperations(name: string, n: number): ClientRefusal | null | Promise<ClientRefusal | null> {
    const client = this.byName(name);
    if (!client?.rateLimit || n < 1) return null;
    if (this.shared) return this.shared.take(client.name, client.rateLimit, n).then((wait) => (wait > 0 ? limited(client, wait) : null));
    const wait = this.limiter.take(client.name, client.rateLimit, n);
    return wait > 0 ? limited(client, wait) : null;
  }
}

/**
 * Build the registry from the environment (`CLIENTS`, `CLIENTS_FILE`); a malformed entry fails with
 * a message naming it.
 */
export function loadClients(env: NodeJS.ProcessEnv = process.env, now?: () => number): ClientRegistry {
  return new ClientRegistry(loadEntries(env), now);
}

/** True when the value is a refusal rather than a client. */
export function isRefusal(v: ClientDefinition | ClientRefusal | null | Promise<unknown>): v is ClientRefusal {
  return v !== null && 'status' in v;
}

/**
 * The configured clients and what they may do, for the perimeter map and the README: name,
 * permissions, operations policy and rate limit, sorted by name. Never any key material.
 *
 * @example
 * describeClients(process.env) // [{ name: 'mobile', permissions: ['pii'], pii: true, operations: 'persisted', ... }]
 */
export function describeClients(env: NodeJS.ProcessEnv = process.env): ClientSummary[] {
  return loadEntries(env)
    .map(({ def }) => ({
      name: def.name,
      permissions: [...def.permissions].sort(),
      pii: def.permissions.has('pii'),
      write: def.permissions.has('write'),
      operations: def.operations,
      persistedOnly: def.operations === 'persisted',
      rateLimit: def.rateLimit,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
