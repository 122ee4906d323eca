/**
 * A value the GraphQL schema cannot represent is an upstream contract violation, never a message
 * carrying the value (`Int cannot represent non 32-bit signed integer value: 99999999999`, or an
 * object printed whole into a String field's error).
 *
 * Two layers, both generic:
 * - At the connector boundary: every integer a response schema declares without bounds is held to
 *   GraphQL's Int (32-bit signed), so an out-of-range number fails validation like any drift
 *   (`UPSTREAM_CONTRACT_VIOLATION` with upstream, endpoint and JSON pointer). Strings, numbers and enum
 *   literals are already exact in the schemas; a definition that means a wider integer says so
 *   (`Type.Integer({ maximum: 2 ** 53 })`).
 * - In the answer: in `report` contract mode a drifted body passes on, so GraphQL's leaf
 *   serialisation can still fail. Such an error (graphql-js' and graphql-jit's messages alike) is
 *   replaced by `UPSTREAM_CONTRACT_VIOLATION` naming the upstream, endpoint and JSON pointer of this
 *   request's drifted response, or, when the value came from the cache, of the drifted response an
 *   endpoint this request read from the cache last answered; without one to name (a resolver's own
 *   bug) it is "Unexpected error.".
 */
import { mapAsyncIterator } from '@graphql-tools/utils';
import { GraphQLError, type ASTNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { AttemptEvent, Telemetry, UpstreamDef } from './connector/index.js';
import type { RequestState } from './server.js';

/** GraphQL's Int: a 32-bit signed integer. */
export const INT32 = { minimum: -2_147_483_648, maximum: 2_147_483_647 } as const;

const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;

/** A copy of a JSON schema (TypeBox) with every unbounded `integer` held to INT32; symbols (TypeBox's Kind) kept. */
export function int32Integers<T>(schema: T, depth = 0): T {
  if (schema === null || typeof schema !== 'object' || depth > 64) return schema;
  if (Array.isArray(schema)) return schema.map((s) => int32Integers(s, depth + 1)) as T;
  const out: Record<string | symbol, unknown> = { ...(schema as Record<string | symbol, unknown>) };
  for (const [k, v] of Object.entries(out)) if (v !== null && typeof v === 'object') out[k] = int32Integers(v, depth + 1);
  if (out.type === 'integer' && !BOUNDS.some((b) => out[b] !== undefined)) Object.assign(out, INT32);
  return out as T;
}

/**
 * An upstream definition whose response schemas hold unbounded integers to GraphQL's Int.
 *
 * @example
 * new Connector({ upstreams: defs.map(withInt32Integers), ... });
 */
export function withInt32Integers<D extends UpstreamDef>(def: D): D {
  const endpoints = Object.fromEntries(Object.entries(def.endpoints).map(([name, ep]) => [name, { ...ep, response: int32Integers(ep.response) }]));
  return { ...def, endpoints } as D;
}

/** The messages of leaf serialisation failures: graphql-js' scalars and enums, its non-null check, graphql-jit's. */
const LEAF_FAILURE = /^(?:(Int|Float|String|Boolean|ID) cannot represent|Enum "([^"]+)" cannot represent|Expected a value of type "([^"]+)" but received|Expected `([^`.]+)\.serialize\()/;

/** The leaf type a serialisation failure names, or undefined when the error is not one. */
export function leafFailureType(message: string): string | undefined {
  const m = LEAF_FAILURE.exec(message);
  return m ? (m[1] ?? m[2] ?? m[3] ?? m[4]) : undefined;
}

/**
 * What error masking (`maskError`) makes of a leaf serialisation failure: a contract violation whose
 * message names the type, never the value; `LeafContract` then names the upstream, endpoint and path
 * (the internal `leafType` extension marks it until then).
 */
export function leafFailure(type: string, nodes: readonly ASTNode[] | undefined, path: readonly (string | number)[] | undefined): GraphQLError {
  return new GraphQLError(`An upstream answered with a value the schema's ${type} cannot represent.`, { nodes, path, extensions: { code: 'UPSTREAM_CONTRACT_VIOLATION', leafType: type } });
}

/** The leaf type of an error that is a leaf serialisation failure, masked (`leafFailure`) or not. */
function failedLeaf(e: GraphQLError): string | undefined {
  const marked = e.extensions?.leafType;
  if (typeof marked === 'string') return marked;
  // A leaf is serialised while executing (the error has a path); a validation error never is one.
  return e.path ? leafFailureType(e.message) : undefined;
}

/** The request's recorded error codes follow the replacement (when the result policy has already recorded the old one). */
function replaceCode(state: RequestState, from: unknown, to: string): void {
  if (typeof from !== 'string') return; // not recorded yet: the result policy records the new code
  const i = state.errorCodes.indexOf(from);
  if (i >= 0) state.errorCodes[i] = to;
}

interface Culprit {
  readonly upstream: string;
  readonly endpoint: string;
  readonly path: string;
}

/** Pointers remembered per endpoint (bounded: a drifting upstream repeats the same few). */
const MAX_POINTERS = 16;

const lastSegment = (pointer: string): string | undefined => pointer.split('/').pop();

/**
 * Replaces leaf serialisation failures in results. Remembers the contract violations telemetry
 * reports, per endpoint, for values served from the cache after the drifted call that stored them.
 *
 * @example
 * const leaves = new LeafContract(telemetry);
 * createGatewayServer({ plugins: [leaves.plugin(), obs.plugin], ... });
 */
export class LeafContract {
  private readonly violations = new Map<string, { upstream: string; endpoint: string; pointers: string[] }>();
  private readonly unsubscribe: () => void;

  constructor(telemetry: Telemetry) {
    this.unsubscribe = telemetry.on('contractViolation', (e) => {
      const k = `${e.upstream}.${e.endpoint}`;
      let v = this.violations.get(k);
      if (!v) this.violations.set(k, (v = { upstream: e.upstream, endpoint: e.endpoint, pointers: [] }));
      if (!v.pointers.includes(e.path)) {
        v.pointers.unshift(e.path);
        v.pointers.length = Math.min(v.pointers.length, MAX_POINTERS);
      }
    });
  }

  /** Where the failing field's value most likely came from: this request's drifted call, else a cached drifted answer. */
  private culprit(state: RequestState, field: string | number | undefined): Culprit | undefined {
    const drifted = (state.scope?.attempts ?? []).filter((a: AttemptEvent) => a.contractViolation !== undefined);
    const fresh = drifted.find((a) => typeof field === 'string' && lastSegment(a.contractViolation!) === field) ?? drifted[0];
    if (fresh) return { upstream: fresh.upstream, endpoint: fresh.endpoint, path: fresh.contractViolation || '/' };
    const cached: Culprit[] = [];
    for (const c of state.scope?.cacheEvents ?? []) {
      if (c.status !== 'hit' && c.status !== 'stale' && c.status !== 'coalesced') continue;
      const v = this.violations.get(`${c.upstream}.${c.endpoint}`);
      if (v) cached.push({ upstream: v.upstream, endpoint: v.endpoint, path: v.pointers.find((p) => lastSegment(p) === field) ?? v.pointers[0]! });
    }
    return cached.find((c) => typeof field === 'string' && lastSegment(c.path) === field) ?? cached[0];
  }

  /** A result with every leaf serialisation failure replaced (the same object when there is none). */
  result(state: RequestState, result: ExecutionResult): ExecutionResult {
    if (!result.errors?.some((e) => failedLeaf(e) !== undefined)) return result;
    const errors = result.errors.map((e) => {
      const type = failedLeaf(e);
      if (type === undefined) return e;
      const a = this.culprit(state, e.path?.[e.path.length - 1]);
      const base = { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path };
      const requestId = e.extensions?.requestId ? { requestId: state.requestId } : {};
      if (!a) {
        replaceCode(state, e.extensions?.code, 'INTERNAL_SERVER_ERROR');
        return new GraphQLError('Unexpected error.', { ...base, extensions: { code: 'INTERNAL_SERVER_ERROR', ...requestId } });
      }
      replaceCode(state, e.extensions?.code, 'UPSTREAM_CONTRACT_VIOLATION');
      return new GraphQLError(`Upstream "${a.upstream}" answered "${a.endpoint}" with a value the schema's ${type} cannot represent (contract broken at ${a.path}).`, {
        ...base,
        extensions: { code: 'UPSTREAM_CONTRACT_VIOLATION', upstream: a.upstream, endpoint: a.endpoint, path: a.path, ...requestId },
      });
    });
    return { ...result, errors };
  }

  /** The yoga plugin (before the observability plugin, so traces and metrics see the replaced errors). */
  plugin(): Plugin {
    return {
      onResultProcess: ({ result, setResult, serverContext }) => {
        const state = (serverContext as { state?: RequestState } | undefined)?.state;
        if (!state || !result || typeof result !== 'object') return;
        if (Symbol.asyncIterator in result) {
          // @defer/@stream: each part's errors, and each incremental entry's.
          const named = (r: ExecutionResult) => (r.errors?.length ? this.result(state, r) : r);
          setResult(
            mapAsyncIterator(result as AsyncIterable<ExecutionResult & { incremental?: ExecutionResult[] }>, (part) =>
              part.incremental ? { ...named(part), incremental: part.incremental.map(named) } : named(part),
            ) as typeof result,
          );
          return;
        }
        if (Array.isArray(result)) {
          const next = (result as ExecutionResult[]).map((r) => this.result(state, r));
          if (next.some((r, i) => r !== result[i])) setResult(next as typeof result);
          return;
        }
        if (!('errors' in result)) return;
        const next = this.result(state, result as ExecutionResult);
        if (next !== result) setResult(next as typeof result);
      },
    };
  }

  close(): void {
    this.unsubscribe();
  }
}
