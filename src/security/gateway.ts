/**
 * The security layer as the composition root wires it: clients, field access, hardening plugins,
 * persisted documents and credential rotation, from the environment.
 */
import type { IncomingMessage } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Connector } from '../connector/index.js';
import type { Logger } from '../logging.js';
import { projectPath } from '../paths.js';
import { loadClients, type ClientRegistry } from './clients.js';
import { loadSecurityConfig, type SecurityConfig } from './config.js';
import { guardFieldAccess, guardMutations } from './field-access.js';
import { costLimit, hardeningPlugins, inputLimit } from './hardening.js';
import { useOperationRateLimit } from './operation-limit.js';
import { createApqStore, type ApqStore } from './apq-store.js';
import { PersistedDocuments } from './persisted.js';
import { watchSecretFiles, type RotationWatcher } from './rotation.js';

/** Where `npm run persisted` writes the manifest (overridable with `PERSISTED_OPERATIONS_FILE`). */
export const DEFAULT_MANIFEST = projectPath('generated/persisted-operations.json');

export interface Security {
  readonly config: SecurityConfig;
  readonly clients: ClientRegistry;
  readonly documents: PersistedDocuments;
  /** Documents registered by automatic persisted queries (undefined with `APQ=off`). */
  readonly apqStore: ApqStore | undefined;
  readonly rotation: RotationWatcher;
  /** Yoga/envelop plugins, to run before the others (every request runs them, whichever way it is served). */
  readonly plugins: Plugin[];
  /** Applies `@pii` field access to a schema (in place). */
  guard(schema: GraphQLSchema): GraphQLSchema;
  /** The server's `identifyClient`: the `x-api-key` header's client, or a refusal. */
  identifyClient(req: IncomingMessage): ReturnType<ClientRegistry['identify']>;
  close(): Promise<void>;
}

/**
 * @example
 * const security = createSecurity({ env, mode: config.mode, maxBodyBytes: config.maxBodyBytes, connector, logger });
 * createGatewayServer({ schema: security.guard(schema), identifyClient: security.identifyClient, plugins: security.plugins, ... });
 */
export function createSecurity(opts: {
  env: NodeJS.ProcessEnv;
  mode: 'development' | 'production';
  maxBodyBytes: number;
  connector: Connector;
  logger: Logger;
  /** With `REDIS_URL`: documents registered by APQ are shared through it (keys `<namespace>:apq:<sha256>`). */
  redis?: { url: string; namespace: string; timeoutMs: number };
}): Security {
  const config = loadSecurityConfig(opts.env, opts.mode);
  const clients = loadClients(opts.env);
  const documents = PersistedDocuments.fromFile(opts.env.PERSISTED_OPERATIONS_FILE || DEFAULT_MANIFEST);
  const apqStore = config.apq.enabled ? createApqStore({ ...config.apq, redis: opts.redis }) : undefined;
  const rotation = watchSecretFiles({
    env: opts.env,
    upstreams: opts.connector.definitions,
    refresh: (names) => opts.connector.refreshCredentials(names),
    onRotate: (e) => opts.logger.info({ reason: e.reason, variables: e.variables, upstreams: e.upstreams }, 'credentials refreshed'),
  });
  if (opts.mode === 'production' && !clients.enabled) opts.logger.warn({}, 'no API clients configured (CLIENTS, CLIENTS_FILE): requests are not identified');
  // Each operation's cost is computed once per combination of its size variables.
  const limit = costLimit(config);
  const inputs = inputLimit(config);
  return {
    config,
    clients,
    documents,
    apqStore,
    rotation,
    plugins: [useOperationRateLimit(clients), ...hardeningPlugins({ config, documents, clients, maxBodyBytes: opts.maxBodyBytes, costLimit: limit, inputLimit: inputs, apqStore })],
    guard: (schema) => guardMutations(guardFieldAccess(schema)),
    identifyClient(req) {
      const key = req.headers['x-api-key'];
      return clients.identify(Array.isArray(key) ? key[0] : key);
    },
    async close() {
      rotation.close();
      await apqStore?.close();
    },
  };
}
