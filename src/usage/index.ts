/**
 * Field usage recorded by the gateway: which schema coordinates each executed operation reads, per
 * API client and operation, counted in time windows; in memory, or in Redis shared by every replica
 * when `REDIS_URL` is set. Served at `GET /admin/usage` (admin token) in the export format
 * `npm run schema:check -- --usage` reads; calls to `@deprecated` coordinates are counted per
 * client in `/metrics` (`tributary_deprecated_field_calls_total`).
 *
 * Variables (FIELD_USAGE...) are read here, resolved in one block, and validated.
 */
import type { Plugin } from 'graphql-yoga';
import { Counter, type Registry } from 'prom-client';
import { ConfigurationError } from '../errors.js';
import type { Route } from '../server.js';
import { MemoryUsageSink } from './memory-sink.js';
import { useFieldUsage } from './plugin.js';
import { UsageRecorder } from './recorder.js';
import { usageRoutes } from './route.js';
import type { UsageSink } from './types.js';

export { operationCoordinates, selectOperation, ANONYMOUS_OPERATION, type OperationCoordinates } from './coordinates.js';
export { UsageRecorder, type UsageRecorderOptions } from './recorder.js';
export { MemoryUsageSink } from './memory-sink.js';
export { useFieldUsage } from './plugin.js';
export { usageRoutes } from './route.js';
export { summariseUsage, parseUsageExport, type CoordinateUsage } from './summary.js';
export * from './types.js';

export interface UsageSettings {
  readonly enabled: boolean;
  readonly windowMs: number;
  readonly retentionMs: number;
  readonly flushMs: number;
  readonly maxOperations: number;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigurationError(`${name} must be an integer >= 1, but is ${JSON.stringify(raw)}.`);
  return n;
}

/** The FIELD_USAGE* variables, defaults resolved. */
export function usageSettings(env: NodeJS.ProcessEnv): UsageSettings {
  const raw = (env.FIELD_USAGE ?? 'on').toLowerCase();
  if (raw !== 'on' && raw !== 'off') throw new ConfigurationError(`FIELD_USAGE must be "on" or "off", but is ${JSON.stringify(env.FIELD_USAGE)}.`);
  return {
    enabled: raw === 'on',
    windowMs: positiveInt(env, 'FIELD_USAGE_WINDOW_MINUTES', 60) * 60_000, // ms: one counting window
    retentionMs: positiveInt(env, 'FIELD_USAGE_RETENTION_DAYS', 30) * 86_400_000, // ms: counts kept this long
    flushMs: positiveInt(env, 'FIELD_USAGE_FLUSH_MS', 5_000), // ms between Redis pipelines
    maxOperations: positiveInt(env, 'FIELD_USAGE_MAX_OPERATIONS', 5_000), // distinct operations counted
  };
}

export interface FieldUsage {
  readonly recorder: UsageRecorder | undefined;
  /** Empty when FIELD_USAGE=off. */
  readonly plugins: readonly Plugin[];
  readonly routes: readonly Route[];
  close(): Promise<void>;
}

export interface FieldUsageOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly redisUrl: string | undefined;
  /** Redis key prefix (the cache's namespace). */
  readonly namespace: string;
  readonly adminToken: string | undefined;
  /** The `/metrics` registry, for the deprecated-field counter. */
  readonly registry?: Registry;
  readonly now?: () => number;
}

/**
 * The field usage layer: plugin (every request, fast path included), admin route.
 *
 * @example
 * const usage = await createFieldUsage({ env, redisUrl: config.redisUrl, namespace: 'tributary', adminToken, registry });
 * createGatewayServer({ ..., plugins: [...usage.plugins], routes: [...usage.routes] });
 */
export async function createFieldUsage(opts: FieldUsageOptions): Promise<FieldUsage> {
  const s = usageSettings(opts.env);
  if (!s.enabled) return { recorder: undefined, plugins: [], routes: [], close: async () => {} };
  let sink: UsageSink;
  let timer: NodeJS.Timeout | undefined;
  if (opts.redisUrl) {
    // Loaded only when Redis is configured, as the cache's store is.
    const { RedisUsageSink } = await import('./redis-sink.js');
    sink = new RedisUsageSink({ url: opts.redisUrl, namespace: opts.namespace, windowMs: s.windowMs, retentionMs: s.retentionMs });
  } else {
    sink = new MemoryUsageSink({ retentionMs: s.retentionMs, ...(opts.now ? { now: opts.now } : {}) });
  }
  const deprecatedCalls = opts.registry
    ? new Counter({
        name: 'tributary_deprecated_field_calls_total',
        help: 'Requests that read a @deprecated schema coordinate (field, argument, enum value, input field), by coordinate and API client.',
        labelNames: ['coordinate', 'client'] as const,
        registers: [opts.registry],
        // Counts reach the recorder's entries first; a scrape drains them so the counter is current.
        collect: () => recorder.drain(),
      })
    : undefined;
  const recorder: UsageRecorder = new UsageRecorder({
    sink,
    windowMs: s.windowMs,
    retentionMs: s.retentionMs,
    maxOperations: s.maxOperations,
    ...(opts.now ? { now: opts.now } : {}),
    onDeprecated: (coordinates, client, count) => {
      for (const coordinate of coordinates) deprecatedCalls?.inc({ coordinate, client }, count);
    },
  });
  if (opts.redisUrl) {
    timer = setInterval(() => {
      recorder.drain();
      void sink.flush();
    }, s.flushMs);
    timer.unref();
  }
  return {
    recorder,
    plugins: [useFieldUsage(recorder)],
    routes: usageRoutes({ recorder, adminToken: opts.adminToken }),
    async close() {
      clearInterval(timer);
      await recorder.close();
    },
  };
}
