/**
 * Discovery of the domain's files: the composition root and the tools find every upstream
 * definition, resolver module and workflow by reading their folder, so adding one is adding a file
 * and no list is kept by hand. Works from the TypeScript sources (tsx, vitest: `.ts`) and from the
 * compiled build (`dist/`: `.js`).
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A module of a folder: its file's base name and what it exports. */
export interface DiscoveredModule {
  readonly name: string;
  readonly exports: Record<string, unknown>;
}

const SOURCE = /^(?!.*\.d\.ts$)(?!.*\.test\.[jt]s$)(.+)\.[jt]s$/;

/**
 * The base names of a folder's modules (`pricing.ts` → `pricing`), sorted, without `index` and
 * without the names in `skip`. A name found as both `.ts` and `.js` is listed once.
 *
 * @example
 * moduleNames(new URL('../upstreams/', import.meta.url)) // ['accounts', 'catalog', ...]
 */
export function moduleNames(dir: URL, skip: readonly string[] = []): string[] {
  const names = new Set<string>();
  for (const file of readdirSync(fileURLToPath(dir))) {
    const m = SOURCE.exec(file);
    if (m && m[1] !== 'index' && !skip.includes(m[1]!)) names.add(m[1]!);
  }
  return [...names].sort();
}

/**
 * Imports every module of a folder (see {@link moduleNames}), in name order. The extension is the
 * one the importing file itself has, so sources import sources and the build imports the build.
 *
 * @example
 * const mods = await importFolder(new URL('./', import.meta.url));
 * for (const m of mods) register(m.name, m.exports.default);
 */
export async function importFolder(dir: URL, skip: readonly string[] = []): Promise<DiscoveredModule[]> {
  const files = new Set(readdirSync(fileURLToPath(dir)));
  return Promise.all(
    moduleNames(dir, skip).map(async (name) => {
      const file = files.has(`${name}.ts`) ? `${name}.ts` : `${name}.js`;
      return { name, exports: (await import(new URL(file, dir).href)) as Record<string, unknown> };
    }),
  );
}
