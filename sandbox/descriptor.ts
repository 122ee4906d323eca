/**
 * What a sandbox upstream is: a descriptor exported by `sandbox/upstreams/<name>.ts`, discovered at
 * run time (./registry.ts) and served by the shared HTTP server (./server.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { DriftKind, SandboxCredentials, SandboxOptions } from './types.js';
import type { OpenApiPart } from './openapi.js';

/** A refusal a handler throws: answered as `status` with {"message": message}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Ctx {
  method: string;
  query: URLSearchParams;
  /** Percent-decoded path parameters, in order. */
  params: string[];
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** This server's origin, e.g. http://127.0.0.1:4101 */
  origin: string;
}

/** A handler's answer: `body` (serialised with JSON.stringify) or an already serialised `json`. */
export interface Reply {
  status: number;
  body?: unknown;
  json?: string;
  headers?: Record<string, string>;
}

export type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteDef {
  method: Method;
  /** e.g. '/products/:id' */
  pattern: string;
  /** Route key: `${method} ${pattern}` */
  key: string;
  /** Whether the upstream's credential check applies. */
  auth: boolean;
  /**
   * A side-effecting route: it honours `Idempotency-Key` (the same key and body answer the first
   * answer again without running the handler; another body with the same key is a 409).
   */
  idempotent: boolean;
  handle(ctx: Ctx): Reply;
  /** Transforms a 200 answer's body into its drifted shape. */
  drift?: (body: unknown, kind: DriftKind) => unknown;
}

export interface RouteOptions {
  auth?: boolean;
  idempotent?: boolean;
  drift?: RouteDef['drift'];
}

/** A route; `auth` defaults to true, `idempotent` to false. */
export function route(method: Method, pattern: string, handle: (ctx: Ctx) => Reply, opts: RouteOptions = {}): RouteDef {
  return {
    method,
    pattern,
    key: `${method} ${pattern}`,
    auth: opts.auth ?? true,
    idempotent: opts.idempotent ?? false,
    handle,
    ...(opts.drift ? { drift: opts.drift } : {}),
  };
}

export const ok = (body: unknown): Reply => ({ status: 200, body });
export const okJson = (json: string): Reply => ({ status: 200, json });
export const created = (body: unknown): Reply => ({ status: 201, body });

/** A credential an upstream accepts: the variable the gateway (and `npm run sandbox`) reads it from, and its sandbox default. */
export interface CredentialSpec {
  env: string;
  default: string;
}

/** What the shared server gives an upstream when it is created. */
export interface UpstreamHost {
  /** The upstream's current credentials (rotations included). */
  credentials(): Readonly<SandboxCredentials>;
  /** The sandbox clock, epoch ms. */
  now(): number;
  /** The options `startSandbox` was given. */
  options: Readonly<SandboxOptions>;
}

/** One running upstream's behaviour: routes over its own state. */
export interface UpstreamBehaviour {
  routes: readonly RouteDef[];
  /** Credential check for routes with `auth: true`. */
  authorize(ctx: Ctx): boolean;
  /** Told after a rotation (e.g. to revoke tokens issued under the old credentials). */
  credentialsChanged?(previous: Readonly<SandboxCredentials>, next: Readonly<SandboxCredentials>): void;
  /** The upstream's books for `GET /__records` (charges, orders, reservations...). */
  records?(): Record<string, unknown>;
}

export interface SandboxUpstreamDescriptor {
  /** Must equal the file's name (`sandbox/upstreams/<name>.ts`). */
  name: string;
  /** Port = SANDBOX_PORT_BASE + portOffset (fixed, unique). */
  portOffset: number;
  /** Default latency, ms. */
  latencyMs: number;
  /** Credential key -> its variable and default; empty for an upstream without credentials. */
  credentials: Readonly<Record<string, CredentialSpec>>;
  /** `WWW-Authenticate` of a 401 (absent when no route needs credentials). */
  challenge?: string;
  /** Upstream-specific options read from the environment (merged into the sandbox options). */
  optionsFromEnv?(env: NodeJS.ProcessEnv): Partial<SandboxOptions>;
  /** Its OpenAPI document's paths, schemas and security scheme. */
  openapi(): OpenApiPart;
  /** Builds a running instance (its routes over fresh state). Throws RangeError on invalid options. */
  create(host: UpstreamHost): UpstreamBehaviour;
}

/** Checks a descriptor's shape (so a mistake in a new file fails at discovery, saying which). */
export function defineSandboxUpstream(d: SandboxUpstreamDescriptor): SandboxUpstreamDescriptor {
  if (!/^[a-z][a-z0-9-]*$/.test(d.name)) throw new TypeError(`sandbox upstream name must be lower-case letters, digits and '-' (got '${d.name}')`);
  if (!Number.isSafeInteger(d.portOffset) || d.portOffset < 1 || d.portOffset > 1000) {
    throw new TypeError(`sandbox upstream ${d.name}: portOffset must be an integer between 1 and 1000 (got ${d.portOffset})`);
  }
  if (!Number.isFinite(d.latencyMs) || d.latencyMs < 0) throw new TypeError(`sandbox upstream ${d.name}: latencyMs must be a non-negative number (got ${d.latencyMs})`);
  for (const [k, c] of Object.entries(d.credentials)) {
    if (!c.env || !c.default) throw new TypeError(`sandbox upstream ${d.name}: credential ${k} needs an env variable and a default`);
  }
  return d;
}
