/**
 * Files the gateway reads at run time (SDL modules, operations, the persisted documents manifest,
 * the sandbox's data set) live in the project's own folders, whether the code runs from its
 * TypeScript sources (`src/…`, through tsx) or compiled (`dist/src/…`, what `npm start` runs).
 * Both resolve against the project root: the nearest folder above this module with a package.json.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function findRoot(from: URL): URL {
  for (let dir = new URL('./', from); ; ) {
    if (existsSync(new URL('package.json', dir))) return dir;
    const up = new URL('../', dir);
    if (up.href === dir.href) throw new Error(`no package.json above ${fileURLToPath(from)}`);
    dir = up;
  }
}

/** The project root, as a directory URL (ends with `/`). */
export const PROJECT_ROOT: URL = findRoot(new URL(import.meta.url));

/** A path inside the project, e.g. `projectPath('schema/')`. */
export function projectPath(relative: string): string {
  return fileURLToPath(new URL(relative, PROJECT_ROOT));
}
