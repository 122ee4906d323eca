/**
 * `npm run persisted`: writes the persisted (trusted) documents manifest
 * `generated/persisted-operations.json` from `operations/*.graphql` (SHA-256 of each document).
 * Deterministic: the same files give the same bytes. `--check` fails when the manifest is not current.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildManifest, manifestText } from '../src/security/persisted.js';

export const OPERATIONS_DIR = fileURLToPath(new URL('../operations/', import.meta.url));
export const MANIFEST_PATH = fileURLToPath(new URL('../generated/persisted-operations.json', import.meta.url));

const text = manifestText(buildManifest(OPERATIONS_DIR));
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(MANIFEST_PATH, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    process.stderr.write('generated/persisted-operations.json is not current: run `npm run persisted` and commit it.\n');
    process.exit(1);
  }
  process.stdout.write('generated/persisted-operations.json is current.\n');
} else {
  writeFileSync(MANIFEST_PATH, text);
  process.stdout.write(`wrote generated/persisted-operations.json (${JSON.parse(text).operations.length} operations)\n`);
}
