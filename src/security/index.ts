/** The security layer: API clients, field access by directive, GraphQL hardening, persisted documents. */
export * from './clients.js';
export * from './field-access.js';
