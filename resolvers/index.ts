/**
 * Every schema module's resolvers, discovered: `resolvers/<module>.ts` default-exports the resolvers
 * of `schema/<module>.graphql`. Files without a default export (helpers such as `money.ts`) are not
 * modules. Adding a module is adding its file; nothing here lists them.
 */
import type { Resolvers } from '../generated/resolvers-types.js';
import { importFolder } from '../src/discover.js';

/** Resolver modules by the name of their schema module. */
export const resolverModules: ReadonlyMap<string, Resolvers> = new Map(
  (await importFolder(new URL('./', import.meta.url)))
    .filter((m) => m.exports.default !== undefined)
    .map((m) => [m.name, m.exports.default as Resolvers] as const),
);

export const resolvers: Resolvers[] = [...resolverModules.values()];
