/**
 * Every upstream the gateway talks to, discovered: each file of this folder default-exports one
 * definition (`defineUpstream`), named as its file. Adding an upstream is adding a file; nothing
 * here lists them.
 *
 * Each file also adds its definition to the {@link Upstreams} interface (one `declare module` line),
 * so resolvers get typed clients: `ctx.upstreams.pricing.pricesBySku.load(sku)`.
 */
import { importFolder } from '../src/discover.js';
import type { UpstreamDef } from '../src/connector/index.js';

/** The definitions by name; each upstream file adds its own entry (declaration merging). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Upstreams {}

async function discover(): Promise<Upstreams> {
  const found: Record<string, UpstreamDef> = {};
  for (const { name, exports } of await importFolder(new URL('./', import.meta.url))) {
    const def = exports.default as UpstreamDef | undefined;
    if (!def || typeof def !== 'object' || typeof def.name !== 'string') {
      throw new Error(`upstreams/${name}: the file must default-export a definition made by defineUpstream(...).`);
    }
    if (def.name !== name) throw new Error(`upstreams/${name}: the definition is named "${def.name}"; name the file after it (upstreams/${def.name}.ts).`);
    found[name] = def;
  }
  return found as unknown as Upstreams;
}

export const upstreams: Upstreams = await discover();

/** The definitions as a list, in name order. */
export const upstreamList: readonly UpstreamDef[] = Object.values(upstreams) as UpstreamDef[];
