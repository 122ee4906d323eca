/** The connector engine's public surface, for `upstreams/*.ts` and the composition root. */
export { defineUpstream, batchEndpoint, singleEndpoint, withPolicy, resolvePolicy, POLICY_DEFAULTS } from './define.js';
export type { UpstreamDef, ResolvedPolicy } from './define.js';
export type * from './types.js';
export { Connector, RequestScope, stableStringify } from './connector.js';
export { Cancel } from './cancel.js';
export type { UpstreamClients, EndpointClient, ScopeInit, ConnectorOptions } from './connector.js';
export { MemoryStore, TieredStore } from './cache.js';
// RedisStore lives in './redis-store.js', imported on demand (only when Redis is configured).
export type { RedisStore } from './redis-store.js';
export type { CacheStore, CacheEntry, CacheRead, Invalidation } from './cache.js';
export { effectiveTtl } from './connector.js';
export { Telemetry } from './events.js';
export type { AttemptEvent, EngineEvents, CacheStatus, BreakerState } from './events.js';
export { encodeSegment, buildPath } from './transport.js';
