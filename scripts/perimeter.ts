/**
 * `npm run perimeter`: the perimeter map, derived from the code (schema, resolvers, upstream
 * definitions, clients) by running every field against an in-process sandbox: each schema field, the
 * upstream endpoints it reaches, the credential used (scheme and variable names, never a value),
 * whether it is `@pii`, and which clients may reach it. Markdown by default; `--json` for machines;
 * `--out <file>` writes the output to a file as well.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { derivePerimeterMap } from '../src/main.js';
import { perimeterMarkdown } from '../src/perimeter/index.js';

export async function main(argv: readonly string[]): Promise<number> {
  let json = false;
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--out' && argv[i + 1] !== undefined) out = argv[++i];
    else {
      process.stderr.write(`perimeter: unknown argument ${JSON.stringify(a)} (use --json, --out <file>)\n`);
      return 2;
    }
  }
  const map = await derivePerimeterMap();
  const text = json ? `${JSON.stringify(map, null, 2)}\n` : perimeterMarkdown(map);
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
