/** Writes the composed schema to `schema.graphql` (or checks it with --check). */
import { readFileSync, writeFileSync } from 'node:fs';
import { composeGatewaySchema } from '../src/main.js';
import { printComposedSchema } from '../src/schema.js';

const printed = printComposedSchema(composeGatewaySchema());
const target = new URL('../schema.graphql', import.meta.url);
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current !== printed) {
    process.stderr.write('schema.graphql is not current: run `npm run schema:print` and commit it.\n');
    process.exit(1);
  }
  process.stdout.write('schema.graphql is current.\n');
} else {
  writeFileSync(target, printed);
  process.stdout.write('wrote schema.graphql\n');
}
