/**
 * The composition root: the one file of the engine that knows the domain. It wires the SDL modules
 * of `schema/`, the resolvers of `resolvers/` and the upstream definitions of `upstreams/` into the
 * engine, and (when no UPSTREAM_*_URL is set) starts the sandbox shop in-process.
 */
import { pathToFileURL } from 'node:url';
import type { GraphQLSchema } from 'graphql';
import type { DestinationStream } from 'pino';
import { resolverModules } from '../resolvers/index.js';
import { upstreamList } from '../upstreams/index.js';
import { workflowList } from '../workflows/index.js';
import { createWorkflowService, workflowMetrics, type WorkflowService } from './workflow/index.js';
import type { UpstreamDefinitions } from '../resolvers/context.js';
import { CONFIG_DEFAULTS, loadConfig, type GatewayConfig } from './config.js';
import { PROJECT_ROOT, projectPath } from './paths.js';
import { Connector, MemoryStore, Telemetry, TieredStore, withPolicy, type CacheStore, type UpstreamDef, type UpstreamPolicyInput } from './connector/index.js';
import { cacheAdminRoutes } from './cache-admin.js';
import { workflowAdminRoutes } from './workflow-admin.js';
import { createAuthenticator, signUserToken } from './identity.js';
import { createLogger, exitOnceLogged, flushLogs, type Logger } from './logging.js';
import { composeSchema, loadSchemaModules } from './schema.js';
import { derivePerimeter, perimeterRoutes, type PerimeterClient, type PerimeterMap } from './perimeter/index.js';
import { describeClients } from './security/clients.js';
import { createGatewayServer, type GatewayServer } from './server.js';
import type { GraphiQLSetup } from './http/graphiql.js';
import { isClusterWorker, reportListening, runPrimary, workersArgument } from './cluster.js';
import { ConfigurationError } from './errors.js';
import { createObservability, type Observability } from './observability/index.js';
import { createSecurity } from './security/index.js';
import { LeafContract, withInt32Integers } from './leaf-contract.js';
import { createFieldUsage } from './usage/index.js';
import { describeFinding, fieldSources, nullabilityFindings, type NullabilityFinding } from './schema-review/nullability.js';

export const SCHEMA_DIR = projectPath('schema/');

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Upstream base URLs by name (tests); when given, no sandbox is started. */
  readonly baseUrls?: Readonly<Record<string, string>>;
  readonly port?: number;
  readonly host?: string;
  readonly logDestination?: DestinationStream;
  /** Wall clock for cache freshness (tests move it instead of sleeping). */
  readonly now?: () => number;
  /** Policies replaced per upstream name (tests, benchmarks). */
  readonly policyOverrides?: Readonly<Record<string, UpstreamPolicyInput>>;
  /** Workflow runner options (tests: short leases, a fixed owner id across restarts). */
  readonly workflowRunner?: import('./workflow/index.js').WorkflowServiceOptions['runner'];
  /** A workflow log opened by the caller, instead of DATABASE_URL / WORKFLOW_DIR (the orders benchmark's baseline without a durable log). */
  readonly workflowStore?: import('./workflow/index.js').WorkflowStore;
  /** Upstream definitions replaced by name (tests: a changed definition file, loaded in place of the committed one). */
  readonly upstreamOverrides?: Readonly<Record<string, UpstreamDef>>;
}

export interface Tributary {
  readonly url: string;
  readonly config: GatewayConfig;
  readonly connector: Connector;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly gateway: GatewayServer;
  /** Traces, metrics and trace context. */
  readonly observability: Observability;
  /** The workflow runner and its log. */
  readonly workflows: WorkflowService;
  /** The in-process sandbox, when one was started. */
  readonly sandbox: { urls: Record<string, string>; close(): Promise<void> } | undefined;
  /** Sandbox mode with the development JWT secret: a token for sandbox user 1 (preset in GraphiQL, printed at start). */
  readonly demoToken: string | undefined;
  close(): Promise<void>;
}

export function composeGatewaySchema() {
  const modules = loadSchemaModules(SCHEMA_DIR);
  // resolvers/<module>.ts belongs to schema/<module>.graphql: a file named after no module is a mistake.
  for (const name of resolverModules.keys()) {
    if (!modules.some((m) => m.name === name)) throw new ConfigurationError(`resolvers/${name}.ts has no schema module: add schema/${name}.graphql or rename the file.`);
  }
  return composeSchema(modules, [...resolverModules.values()]);
}

/**
 * The perimeter map of this gateway (`npm run perimeter`, `GET /admin/perimeter`): every field is run
 * against an in-process sandbox (never the configured upstreams), as sandbox user 1, with the probe
 * inputs below for arguments no answer provides. An upstream without a sandbox counterpart is probed
 * against a stand-in that answers 503 to everything: its calls are still made, so still mapped.
 * Workflows are recorded, never run (the probe writes nothing).
 */
export async function derivePerimeterMap(opts: { env?: NodeJS.ProcessEnv; clients?: readonly PerimeterClient[]; schema?: GraphQLSchema } = {}): Promise<PerimeterMap> {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { startSandbox } = await import('../sandbox/index.js');
  const dir = new URL('operations/', PROJECT_ROOT);
  const operations = new Map(readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort().map((f) => [f.replace(/\.graphql$/, ''), readFileSync(new URL(f, dir), 'utf8')] as [string, string]));
  const defs = upstreamList;
  const sandbox = await startSandbox({ portBase: 0, latencyMs: Object.fromEntries(defs.map((d) => [d.name, 0])) });
  const standIn = defs.some((d) => !sandbox.urls[d.name]) ? await unavailableStandIn() : undefined;
  try {
    return await derivePerimeter({
      schema: opts.schema ?? composeGatewaySchema(),
      upstreams: defs,
      baseUrls: { ...Object.fromEntries(defs.map((d) => [d.name, standIn?.url ?? ''])), ...sandbox.urls },
      user: { id: '1' },
      inputs: { country: 'US', postcode: '10001', paymentToken: 'tok_visa', idempotencyKey: 'perimeter-probe' },
      workflows: workflowList,
      operations,
      // The configured API clients (CLIENTS / CLIENTS_FILE): names and permissions, never keys. With
      // PERSISTED_OPERATIONS=only every client is limited to the persisted operations.
      clients: (opts.clients ?? describeClients(opts.env ?? process.env)).map((c) =>
        (opts.env ?? process.env).PERSISTED_OPERATIONS?.toLowerCase() === 'only' ? { ...c, persistedOnly: true } : c,
      ),
    });
  } finally {
    await sandbox.close();
    await standIn?.close();
  }
}

/** A local server answering 503 to every request: the perimeter probe's address for an upstream without a sandbox counterpart. */
async function unavailableStandIn(): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"no sandbox counterpart"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * GraphiQL's preloaded tabs: one per operation of `operations/` (by file name), with the example
 * variables of `operations/<Name>.variables.json` when there is one; with a demo token (sandbox mode
 * only), its `Authorization` header preset in every tab.
 */
export async function graphiqlSetup(demoToken: string | undefined): Promise<GraphiQLSetup> {
  const { existsSync, readdirSync, readFileSync } = await import('node:fs');
  const dir = new URL('operations/', PROJECT_ROOT);
  const tabs = readdirSync(dir)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => {
      const example = new URL(f.replace(/\.graphql$/, '.variables.json'), dir);
      // Parsed and printed again: a malformed example fails start-up, never the page.
      const variables = existsSync(example) ? JSON.stringify(JSON.parse(readFileSync(example, 'utf8')), null, 2) : undefined;
      return { query: readFileSync(new URL(f, dir), 'utf8'), variables };
    });
  return { title: 'Tributary GraphiQL', tabs, ...(demoToken ? { headers: { Authorization: `Bearer ${demoToken}` } } : {}) };
}

/**
 * The nullability guard at start-up (development): every non-null field an upstream failure would
 * null, wiping a parent the client asked for, is logged as a warning with its path and what to do.
 * The field → upstream map is the perimeter map's (an in-process sandbox, never the configured
 * upstreams); `npm run schema:check` runs the same check.
 *
 * @example
 * const findings = await warnNullabilityAtStart(t.logger);
 */
export async function warnNullabilityAtStart(logger: Logger, schema?: GraphQLSchema): Promise<NullabilityFinding[]> {
  const reviewed = schema ?? composeGatewaySchema();
  const map = await derivePerimeterMap({ schema: reviewed, clients: [] });
  const findings = nullabilityFindings(reviewed, fieldSources(map.fields, upstreamList));
  for (const f of findings) logger.warn({ field: f.coordinate, path: f.path, nulls: f.nulls, upstreams: f.upstreams }, `nullability: ${describeFinding(f)}`);
  return findings;
}

/**
 * Start a gateway.
 *
 * @example
 * const t = await startTributary({ baseUrls: sandbox.urls, port: 0 });
 * await fetch(`${t.url}/graphql`, { method: 'POST', ... });
 * await t.close();
 */
export async function startTributary(opts: StartOptions = {}): Promise<Tributary> {
  const env = opts.env ?? process.env;
  const config = loadConfig(env, upstreamList.map((d) => d.baseUrlEnv));
  const logger = createLogger({ level: config.logLevel, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  if (config.propagatorsIgnored.length > 0) logger.warn({ ignored: config.propagatorsIgnored }, 'OTEL_PROPAGATORS names propagators this gateway does not send (it sends tracecontext, baggage, b3, b3multi); an SDK that knows them uses them');

  let sandbox: Tributary['sandbox'];
  let baseUrls = opts.baseUrls;
  if (!baseUrls && config.sandbox) {
    // Development with no upstreams configured: run the sandbox shop in this process.
    const { startSandbox, sandboxOptionsFromEnv } = await import('../sandbox/index.js');
    const s = await startSandbox(sandboxOptionsFromEnv(env));
    sandbox = s;
    baseUrls = s.urls;
    // An upstream the sandbox does not simulate: its calls go to a stand-in answering 503, so the
    // gateway starts and that upstream's fields answer with errors naming it.
    const missing = upstreamList.filter((d) => !s.urls[d.name]);
    if (missing.length > 0) {
      const standIn = await unavailableStandIn();
      baseUrls = { ...Object.fromEntries(missing.map((d) => [d.name, standIn.url])), ...s.urls };
      sandbox = { urls: s.urls, close: async () => (await s.close(), await standIn.close()) };
      logger.warn({ upstreams: missing.map((d) => d.name) }, 'no sandbox counterpart: these upstreams answer 503 until their URL is set');
    }
  }

  let cache: CacheStore | null = null;
  if (config.cache.enabled) {
    const memory = new MemoryStore({ maxEntries: config.cache.maxEntries });
    // The Redis client is loaded only when Redis is configured (it is ~10 MB of memory otherwise unused).
    const redis = config.redisUrl
      ? new (await import('./connector/redis-store.js')).RedisStore({ url: config.redisUrl, namespace: `${config.cache.namespace}:v${config.cache.version}`, timeoutMs: config.cache.redisTimeoutMs })
      : undefined;
    // With Redis, a memory layer in front of it by default; without the layer every read goes to Redis.
    cache = redis ? (config.cache.memoryLayer ? await TieredStore.create({ memory, redis }) : redis) : memory;
  }
  const telemetry = new Telemetry();
  // enforce-mode violations are logged as failed calls below; report-mode ones pass, so log them here.
  telemetry.on('contractViolation', (e) => {
    if (e.mode === 'report') logger.warn({ upstream: e.upstream, endpoint: e.endpoint, path: e.path, mode: e.mode }, 'upstream contract violation');
  });
  telemetry.on('upstreamFailure', (e) =>
    logger.warn({ requestId: e.requestId, upstream: e.upstream, endpoint: e.endpoint, attempt: e.attempt, code: e.code, status: e.status || undefined }, 'upstream call failed'),
  );
  const connector = new Connector({
    upstreams: upstreamList
      .map((def) => opts.upstreamOverrides?.[def.name] ?? def)
      .map((def) => (opts.policyOverrides?.[def.name] ? withPolicy(def, opts.policyOverrides[def.name]!) : def))
      // Integers an upstream sends are held to GraphQL's Int at the boundary (src/leaf-contract.ts).
      .map(withInt32Integers),
    switches: config.policies,
    ...(opts.now ? { now: opts.now } : {}),
    env,
    ...(baseUrls ? { baseUrls } : {}),
    sandboxMode: config.sandbox,
    cache,
    telemetry,
    captureBodies: config.traces.bodies,
  });
  // Orchestrated writes (workflows/): their log on PostgreSQL (DATABASE_URL) or an embedded file
  // (WORKFLOW_DIR); opening it recovers whatever a previous life of the gateway left unfinished.
  const workflows: WorkflowService = await createWorkflowService({
    workflows: workflowList,
    connector,
    databaseUrl: config.workflow.databaseUrl,
    directory: config.workflow.directory,
    tablePrefix: config.workflow.tablePrefix,
    redisUrl: config.redisUrl,
    runner: { leaseMs: config.workflow.leaseMs, ...opts.workflowRunner },
    ...(opts.workflowStore ? { store: opts.workflowStore } : {}),
  });
  const observability = createObservability({ config, connector, telemetry, adminToken: env.ADMIN_TOKEN || undefined, metricsToken: env.METRICS_TOKEN || undefined });
  const stopWorkflowMetrics = workflowMetrics(workflows.runner, observability.metrics.registry, workflows.logCalls);
  const security = createSecurity({
    env,
    mode: config.mode,
    maxBodyBytes: config.maxBodyBytes,
    connector,
    logger,
    redis: config.redisUrl ? { url: config.redisUrl, namespace: config.cache.namespace, timeoutMs: config.cache.redisTimeoutMs } : undefined,
  });
  const leaves = new LeafContract(telemetry);
  // With Redis, client rate limits are counted across every process (loaded only when needed).
  let sharedLimits: { close(): Promise<void> } | undefined;
  if (config.redisUrl && security.clients.hasRateLimits) {
    const { SharedRateLimiter } = await import('./security/shared-rate-limit.js');
    const shared = new SharedRateLimiter({ url: config.redisUrl, namespace: config.cache.namespace, timeoutMs: config.cache.redisTimeoutMs, local: security.clients.localLimiter });
    await shared.ready();
    security.clients.shareLimits(shared);
    sharedLimits = shared;
  }
  // Sandbox mode (never production: loadConfig refuses it there): a token for sandbox user 1, signed
  // with the published development secret only. A JWT_SECRET someone set may be a real one: a token
  // it signs is a credential, never put in a page.
  const demoToken = config.sandbox && security.config.hs256 && config.jwtSecret === CONFIG_DEFAULTS.devJwtSecret ? await signUserToken(config.jwtSecret, '1') : undefined;
  const usage = await createFieldUsage({ env, redisUrl: config.redisUrl, namespace: config.cache.namespace, adminToken: env.ADMIN_TOKEN || undefined, registry: observability.metrics.registry });
  const gateway = createGatewayServer({
    schema: security.guard(composeGatewaySchema()),
    identifyClient: (req) => security.identifyClient(req),
    connector,
    config,
    logger,
    authenticate: createAuthenticator({
      secret: security.config.hs256 ? config.jwtSecret : undefined,
      jwksUrl: security.config.jwksUrl,
      issuer: security.config.jwtIssuer,
      audience: security.config.jwtAudience,
    }),
    extendContext: (scope) => ({ upstreams: connector.clientsFor<UpstreamDefinitions>(scope), workflows: workflows.forRequest(scope) }),
    // Leaf values the schema cannot represent become contract violations, before traces record the errors.
    plugins: [...security.plugins, leaves.plugin(), observability.plugin, ...usage.plugins],
    onRequestEnd: observability.onRequestEnd,
    ...(config.mode === 'development' ? { graphiql: await graphiqlSetup(demoToken) } : {}),
    routes: [...observability.routes, ...cacheAdminRoutes({ connector, adminToken: env.ADMIN_TOKEN || undefined }), ...perimeterRoutes({ adminToken: env.ADMIN_TOKEN || undefined, derive: () => derivePerimeterMap({ env }) }),
      ...workflowAdminRoutes({ runner: workflows.runner, adminToken: env.ADMIN_TOKEN || undefined }),
      ...usage.routes,
    ],
  });
  observability.watch(gateway.server);
  const url = await gateway.listen(opts.port ?? config.port, opts.host ?? config.host);
  return {
    url,
    config,
    connector,
    telemetry,
    logger,
    gateway,
    observability,
    workflows,
    sandbox,
    demoToken,
    async close() {
      await gateway.close();
      stopWorkflowMetrics();
      await workflows.close();
      await usage.close();
      await security.close();
      leaves.close();
      await sharedLimits?.close();
      observability.close();
      await connector.close();
      await cache?.close();
      await sandbox?.close();
    },
  };
}

async function run(): Promise<void> {
  // --workers N (or WORKERS=N): a primary forks N gateway processes sharing the port (src/cluster.ts).
  const workersArg = workersArgument(process.argv.slice(2));
  const env = workersArg !== undefined ? { ...process.env, WORKERS: workersArg } : process.env;
  const config = loadConfig(env, upstreamList.map((d) => d.baseUrlEnv));
  if (config.workers > 1 && !isClusterWorker()) {
    if (config.sandbox) throw new ConfigurationError('WORKERS > 1 needs UPSTREAM_<NAME>_URL set: the in-process sandbox cannot be shared by workers.');
    const logger = createLogger({ level: config.logLevel });
    const url = await runPrimary(config.workers, logger, config.server.shutdownGraceMs + config.server.shutdownTimeoutMs);
    logger.info({ url: `${url}/graphql`, mode: config.mode, workers: config.workers, cache: config.cache.enabled ? (config.redisUrl ? 'redis' : 'memory') : 'off' }, 'tributary listening');
    flushLogs(logger);
    return;
  }
  const t = await startTributary({ env });
  if (isClusterWorker()) {
    t.logger.info({ url: `${t.url}/graphql`, pid: process.pid }, 'worker listening');
    reportListening(t.url);
  } else {
    t.logger.info({ url: `${t.url}/graphql`, mode: t.config.mode, sandbox: Boolean(t.sandbox), cache: t.config.cache.enabled ? (t.config.redisUrl ? 'redis' : 'memory') : 'off' }, 'tributary listening');
  }
  flushLogs(t.logger);
  // In the background once listening: it probes an in-process sandbox of its own for a few seconds.
  if (t.config.mode === 'development' && !isClusterWorker()) warnNullabilityAtStart(t.logger).catch((e: unknown) => t.logger.warn({ err: String(e) }, 'nullability review failed'));
  if (t.config.sandbox) {
    const token = t.demoToken ?? (await signUserToken(t.config.jwtSecret, '1'));
    // Printed for humans trying the sandbox; never in production (loadConfig refuses sandbox mode there).
    process.stdout.write(`\nTributary is up: GraphQL and GraphiQL at ${t.url}/graphql\nSandbox demo token for user 1:\n  Authorization: Bearer ${token}\n\n`);
  }
  // Exit once the last log lines are out.
  const exit = (code: number) => exitOnceLogged(code, (cb) => t.logger.flush(cb));
  // SIGTERM (a rolling deploy, `docker stop`, Kubernetes) or SIGINT: drain, then close the rest and exit 0.
  const stop = (signal: NodeJS.Signals) => {
    // A second signal while draining: stop now.
    process.removeListener('SIGINT', stop).removeListener('SIGTERM', stop);
    const now = () => exit(1);
    process.once('SIGINT', now).once('SIGTERM', now);
    const { shutdownGraceMs: graceMs, shutdownTimeoutMs: timeoutMs } = t.config.server;
    t.logger.info({ signal, graceMs, timeoutMs, inFlight: t.gateway.inFlight }, 'draining: /readyz answers 503, serving until the grace ends');
    t.gateway
      .drain({ graceMs, timeoutMs })
      .then(({ cutOff }) => {
        if (cutOff > 0) t.logger.warn({ cutOff, timeoutMs }, 'drained: requests still in flight after SHUTDOWN_TIMEOUT_MS were cut off');
        else t.logger.info('drained: every request answered');
        return t.close();
      })
      .then(
        () => exit(0),
        (e: unknown) => {
          t.logger.error({ err: String(e) }, 'stop failed');
          exit(1);
        },
      );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((e: unknown) => {
    process.stderr.write(`tributary failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
