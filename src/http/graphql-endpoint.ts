/**
 * The `/graphql` endpoint: what happens to a request before yoga's pipeline, and after its answer.
 * Every request, refused or not, gets a state (request id, deadline, abort signal), and when its
 * response is done one `onRequestEnd` call (traces, metrics) and one log line. In order: the declared
 * body size, the API client's identification (a refusal is answered here), then a JSON POST's body is
 * read under the size limit and served by the fast path when it takes it, else by yoga's Node adapter.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config.js';
import type { Logger } from '../logging.js';
import { isJsonContentType, readJsonBody } from './body.js';
import type { FastPath } from './fast-path.js';
import { takesFastPath } from './fast-path-params.js';
import { IDENTIFICATION_FAILED, refuse, tooLarge, type Identified } from './refusals.js';
import { logRequest } from './request-log.js';
import { headerValue, newRequestState, type RequestState } from './request-state.js';
import { responseEncoding } from './compression.js';
import type { GatewayYoga } from './yoga.js';

export interface GraphQLEndpointOptions {
  readonly config: Pick<GatewayConfig, 'maxBodyBytes' | 'corsOrigins' | 'requestTimeoutMs' | 'compression'>;
  readonly logger: Logger;
  readonly yoga: GatewayYoga;
  /** Absent: yoga's Node adapter serves every request (`DIRECT_EXECUTION=off`). */
  readonly fast: FastPath | undefined;
  /** Identifies the API client of a request (the security layer): the client, null, or a refusal. */
  readonly identifyClient?: ((req: IncomingMessage) => Identified | Promise<Identified>) | undefined;
  /** Called once per request, refused ones included, when its response is done, before its log line. */
  readonly onRequestEnd?: ((state: RequestState, status: number, aborted: boolean) => void) | undefined;
}

/**
 * The handler of `/graphql` requests.
 *
 * @example
 * const graphql = graphqlEndpoint({ config, logger, yoga, fast });
 * graphql(req, res, requestId);
 */
/**
 * Media types are case-insensitive (RFC 9110): `APPLICATION/JSON; charset=UTF-8` is JSON. Yoga compares
 * them as written, so the type in Content-Type and the types in Accept are lower-cased in place.
 */
function normaliseMediaTypes(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (typeof type === 'string' && /[A-Z]/.test(type)) {
    const semi = type.indexOf(';');
    req.headers['content-type'] = semi < 0 ? type.toLowerCase() : type.slice(0, semi).toLowerCase() + type.slice(semi);
  }
  const accept = req.headers.accept;
  if (typeof accept === 'string' && /[A-Z]/.test(accept)) req.headers.accept = accept.toLowerCase();
}

export function graphqlEndpoint(opts: GraphQLEndpointOptions): (req: IncomingMessage, res: ServerResponse, requestId: string) => void {
  const { config, yoga, fast } = opts;
  const origins = config.corsOrigins;

  function serve(req: IncomingMessage, res: ServerResponse, state: RequestState, who: Identified): void {
    if (res.destroyed) return;
    if (who && 'status' in who) return refuse(req, res, state, who, origins);
    state.client = who;
    normaliseMediaTypes(req);
    // Any other request (GET, a non-JSON body: yoga refuses it, or CSRF prevention does) is yoga's to read.
    if (req.method !== 'POST' || !isJsonContentType(headerValue(req.headers['content-type']))) {
      void yoga(req, res, { req, res, state });
      return;
    }
    readJsonBody(req, config.maxBodyBytes, {
      onTooLarge() {
        res.setHeader('connection', 'close');
        refuse(req, res, state, tooLarge(config.maxBodyBytes), origins);
      },
      onError: () => res.destroy(),
      onBody({ text, parsed }) {
        if (res.destroyed) return;
        if (fast && parsed && takesFastPath(req, parsed, origins)) return void fast.serve(req, res, parsed, state);
        // Yoga's Node adapter takes the parsed value (skipping its stream pipeline and second parse), or the text to refuse.
        if (parsed || text) (req as IncomingMessage & { body?: unknown }).body = parsed ?? text;
        void yoga(req, res, { req, res, state });
      },
    });
  }

  return (req, res, requestId) => {
    const state = newRequestState(req, requestId, config.requestTimeoutMs);
    state.encoding = responseEncoding(config.compression, headerValue(req.headers['accept-encoding']));
    res.on('close', () => {
      // The client went away before we answered: abort its in-flight upstream calls.
      const aborted = !res.writableFinished;
      if (aborted) state.abort.abort();
      // Observability first: it gives a request refused before GraphQL its trace id, for the log line.
      opts.onRequestEnd?.(state, res.statusCode, aborted);
      logRequest(opts.logger, state, res.statusCode, aborted);
    });
    if (Number(req.headers['content-length']) > config.maxBodyBytes) return refuse(req, res, state, tooLarge(config.maxBodyBytes), origins);
    // A CORS preflight carries no credentials: it is answered by yoga, never identified or counted.
    const who = opts.identifyClient && req.method !== 'OPTIONS' ? opts.identifyClient(req) : null;
    if (who instanceof Promise) {
      // A limit counted across processes (Redis): the body waits, unread, until the answer.
      who.then(
        (w) => serve(req, res, state, w),
        () => serve(req, res, state, IDENTIFICATION_FAILED),
      );
      return;
    }
    serve(req, res, state, who);
  };
}
