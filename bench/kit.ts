/** Pieces the resilience and cache benchmarks share beyond `bench/lib.ts`: faults and the CategoryPage bodies. */
import { readFileSync } from 'node:fs';

const CATEGORY_PAGE = readFileSync(new URL('../operations/CategoryPage.graphql', import.meta.url), 'utf8');

/** CategoryPage bodies of 20 products each: the two categories of the data set with at least 20. */
export const CATEGORY_BODIES: readonly string[] = ['groceries', 'kitchen-accessories'].map((slug) => JSON.stringify({ query: CATEGORY_PAGE, variables: { slug, first: 20 } }));

/** Replace (or clear, with null) an upstream's fault spec over its admin route. */
export async function setFaults(upstreamUrl: string, spec: Record<string, unknown> | null): Promise<void> {
  const res = spec
    ? await fetch(`${upstreamUrl}/__faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) })
    : await fetch(`${upstreamUrl}/__faults`, { method: 'DELETE' });
  if (!res.ok) throw new Error(`setting faults on ${upstreamUrl}: ${res.status} ${await res.text()}`);
}
