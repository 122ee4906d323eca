/**
 * `npm run bench [-- <suite>] [options]`: dispatches on the first argument.
 *   (none) | peers  the side-by-side benchmark of issue 8 (bench/suite.ts)
 *   resilience      bench/resilience.ts
 *   cache           bench/cache.ts
 *   compression     bench/compression.ts (bytes and CPU per answer, identity/gzip/br)
 *   defer           bench/defer.ts (ProductPage with recommendations deferred: first part vs whole)
 *   orders          bench/orders.ts (PlaceOrder: the workflow log's cost, and the books under faults)
 *   persisted       bench/persisted.ts (CategoryPage by its text, by documentId, by APQ hash: CPU per request)
 * Each suite module exports `run(argv)` and also runs standalone (`node --import tsx bench/<suite>.ts`).
 */
const SUITES: Record<string, () => Promise<{ run(argv: string[]): Promise<void> }>> = {
  peers: () => import('./suite.js'),
  resilience: () => import('./resilience.js'),
  cache: () => import('./cache.js'),
  orders: () => import('./orders.js'),
  compression: () => import('./compression.js'),
  defer: () => import('./defer.js'),
  persisted: () => import('./persisted.js'),
};

const argv = process.argv.slice(2);
const name = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'peers';
const rest = argv[0] === name ? argv.slice(1) : argv;
const load = SUITES[name];
if (!load) {
  process.stderr.write(`unknown bench "${name}"; choose one of: ${Object.keys(SUITES).join(', ')}\n`);
  process.exit(2);
}
load()
  .then((m) => m.run(rest))
  .then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench ${name} failed: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
