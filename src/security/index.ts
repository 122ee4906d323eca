/** The security layer: API clients, field access by directive, GraphQL hardening, persisted documents. */
export * from './clients.js';
export * from './field-access.js';
export * from './config.js';
export * from './hardening.js';
export * from './operation-limit.js';
export * from './persisted.js';
export * from './rotation.js';
export * from './gateway.js';
