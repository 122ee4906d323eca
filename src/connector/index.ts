/** The connector engine's public surface, for `upstreams/*.ts` and the composition root. */
export { defineUpstream, batchEndpoint, singleEndpoint, withPolicy, resolvePolicy, POLICY_DEFAULTS } from './define.js';
export type { UpstreamDef, ResolvedPolicy } from './define.js';
export type * from './types.js';
export { Connector } from './connector.js';
export { RequestScope } from './request-scope.js';
export { stableStringify } from './key-id.js';
export { Cancel } from './cancel.js';
export type { ConnectorOptions } from './connector.js';
export type { ScopeInit } from './request-scope.js';
export type { UpstreamClients, EndpointClient } from './clients.js';
export { MemoryStore, TieredStore } from './cache.js';
// RedisStore lives in './redis-store.js', imported on demand (only when Redis is configured).
export type { RedisStore } from './redis-store.js';
export type { CacheStore, CacheEntry, CacheRead, Invalidation } from './cache.js';
export { effectiveTtl } from './cache-read.js';
export { Telemetry } from './events.js';
export type { AttemptEvent, EngineEvents, CacheStatus, BreakerState } from './events.js';
export type { UpstreamTrace, UpstreamTarget } from './call-trace.js';
export { encodeSegment, buildPath } from './transport.js';
export { UpstreamRefusedError, isUpstreamRefused } from './error-detail.js';
export { idempotencyKeyHash } from './write-call.js';
