/**
 * Per-request clients: `clients.pricing.prices.load('SKU')`, `clients.orders.create.call(input, { idempotencyKey })`.
 * One object per request; an upstream's client is made when a resolver first uses it, and an endpoint's
 * loader when it is first used. The prototypes (one getter per upstream and per endpoint) are built once.
 */
import type DataLoader from 'dataloader';
import type { UpstreamDef } from './define.js';
import type { UpstreamRuntime } from './registry.js';
import type { RequestScope } from './request-scope.js';
import type { EndpointKey, EndpointValue, WriteCallOptions } from './types.js';

/** A typed client per endpoint: DataLoader's `load`/`loadMany`; for single endpoints, also `call` (a write). */
export type EndpointClient<D> = DataLoader<EndpointKey<D>, EndpointValue<D>, string> &
  (D extends { readonly kind: 'single' } ? { call(input: EndpointKey<D>, options?: WriteCallOptions): Promise<EndpointValue<D>> } : unknown);
export type UpstreamClients<U extends Record<string, UpstreamDef<any>>> = {
  readonly [N in keyof U]: { readonly [E in keyof U[N]['endpoints']]: EndpointClient<U[N]['endpoints'][E]> };
};

/**
 * Where a request's clients keep their scope and the upstream clients made so far: under symbols,
 * so no upstream name (the getters beside them) can collide with them.
 */
const SCOPE = Symbol('scope');
const MADE = Symbol('made');
interface ClientsState {
  [SCOPE]: RequestScope;
  [MADE]: Record<string, object> | undefined;
}

/** @internal The prototype of every request's clients: a getter per upstream, whose client has a getter per endpoint. */
export function buildClientsProto(runtimes: ReadonlyMap<string, UpstreamRuntime>): object {
  const proto = {};
  for (const [name, rt] of runtimes) {
    const upstreamProto = {};
    for (const ep of rt.endpoints.keys()) {
      const id = `${name}.${ep}`; // built once, not on every `.load`
      Object.defineProperty(upstreamProto, ep, {
        enumerable: true,
        get(this: { [SCOPE]: RequestScope }) {
          return this[SCOPE].loader(name, ep, id);
        },
      });
    }
    Object.defineProperty(proto, name, {
      enumerable: true,
      get(this: ClientsState) {
        const made = (this[MADE] ??= {});
        let client = made[name];
        if (!client) {
          const c = Object.create(upstreamProto) as { [SCOPE]: RequestScope };
          c[SCOPE] = this[SCOPE];
          made[name] = client = c;
        }
        return client;
      },
    });
  }
  return proto;
}

/** @internal A request's clients, on the prototype built by `buildClientsProto`. */
export function clientsOn<U extends Record<string, UpstreamDef<any>>>(proto: object, scope: RequestScope): UpstreamClients<U> {
  const o = Object.create(proto) as ClientsState;
  o[SCOPE] = scope;
  o[MADE] = undefined;
  return o as unknown as UpstreamClients<U>;
}
