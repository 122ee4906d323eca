/**
 * `npm run perimeter`: the perimeter map, derived from the code (schema, resolvers, upstream
 * definitions, clients) by running every field against an in-process sandbox: each schema field, the
 * upstream endpoints it reaches, the credential used (scheme and variable names, never a value),
 * whether it is `@pii`, and which clients may reach it. Markdown by default; `--json` for machines;
 * `--out <file>` writes the output to a file as well. `--writes [upstream]`: only who can write
 * where (the fields that run workflows, the endpoints they write to, the clients allowed), optionally
 * only what writes to one upstream: `npm run perimeter -- --writes orders`.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { derivePerimeterMap } from '../src/main.js';
import { perimeterMarkdown, writesMarkdown } from '../src/perimeter/index.js';

export async function main(argv: readonly string[]): Promise<number> {
  let json = false;
  let out: string | undefined;
  let writes: string | true | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--out' && argv[i + 1] !== undefined) out = argv[++i];
    else if (a === '--writes') writes = argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--') ? argv[++i]! : true;
    else {
      process.stderr.write(`perimeter: unknown argument ${JSON.stringify(a)} (use --json, --out <file>, --writes [upstream])\n`);
      return 2;
    }
  }
  const map = await derivePerimeterMap();
  const upstream = typeof writes === 'string' ? writes : undefined;
  if (upstream && !map.endpoints.some((e) => e.upstream === upstream)) {
    process.stderr.write(`perimeter: unknown upstream ${JSON.stringify(upstream)} (known: ${[...new Set(map.endpoints.map((e) => e.upstream))].join(', ')})\n`);
    return 2;
  }
  const text = writes
    ? json
      ? `${JSON.stringify(map.writes.filter((w) => !upstream || w.writes.some((id) => id.startsWith(`${upstream}.`))), null, 2)}\n`
      : writesMarkdown(map, upstream)
    : json
      ? `${JSON.stringify(map, null, 2)}\n`
      : perimeterMarkdown(map);
  if (out) writeFileSync(out, text);
  process.stdout.write(text);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`perimeter failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
