/**
 * Credential rotation without restart. Every upstream secret given as a file (`<VAR>_FILE`) is
 * watched (its directory, so an atomic rename or a Kubernetes `..data` symlink swap is seen too); when
 * a file's content changes, the credentials of the upstreams that use it are forgotten, so their next
 * call reads the new value (an OAuth2 upstream also fetches a new token). `SIGHUP` forgets every
 * upstream's credentials. A 401 from an upstream independently triggers one refresh and one retry
 * (the executor), which covers the window between an upstream's rotation and the file's.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { AuthDef, SecretRef } from '../connector/index.js';

/** The secret references (variable names) of an auth definition. */
export function secretRefs(auth: AuthDef): SecretRef[] {
  switch (auth.scheme) {
    case 'none':
      return [];
    case 'bearer':
      return [auth.token];
    case 'apiKey':
      return [auth.key];
    case 'basic':
      return [auth.username, auth.password];
    case 'oauth2ClientCredentials':
      return [auth.clientId, auth.clientSecret];
  }
}

export interface RotationOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Upstream name → its auth definition. */
  readonly upstreams: ReadonlyMap<string, { readonly auth: AuthDef }>;
  /** Forget the held credentials of these upstreams. */
  readonly refresh: (upstreams: readonly string[]) => void;
  /** Told after each refresh (variable names and upstreams only, never values). */
  readonly onRotate?: (e: { readonly reason: 'file' | 'signal'; readonly variables: readonly string[]; readonly upstreams: readonly string[] }) => void;
  /** Listen for SIGHUP (default true). */
  readonly sighup?: boolean;
}

export interface RotationWatcher {
  /** Files being watched, by variable name (`PRICING_TOKEN_FILE`). */
  readonly files: ReadonlyMap<string, string>;
  /** Re-check every watched file now (what a file event or SIGHUP does). */
  check(reason?: 'file' | 'signal'): void;
  close(): void;
}

const digest = (path: string): string | null => {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return null; // missing for a moment during a swap: keep the old value until it is back
  }
};

/**
 * Watch the secret files of the given upstreams.
 *
 * @example
 * const w = watchSecretFiles({ env, upstreams: connector.definitions, refresh: (n) => connector.refreshCredentials(n) });
 * // ... later
 * w.close();
 */
export function watchSecretFiles(opts: RotationOptions): RotationWatcher {
  // variable (`PRICING_TOKEN_FILE`) → { path, upstreams that read it, last digest }
  const tracked = new Map<string, { path: string; upstreams: Set<string>; digest: string | null }>();
  for (const [name, def] of opts.upstreams) {
    for (const ref of secretRefs(def.auth)) {
      const variable = `${ref.env}_FILE`;
      const file = opts.env[variable];
      if (!file) continue;
      const path = resolve(file);
      const t = tracked.get(variable) ?? { path, upstreams: new Set<string>(), digest: digest(path) };
      t.upstreams.add(name);
      tracked.set(variable, t);
    }
  }

  const check = (reason: 'file' | 'signal' = 'file'): void => {
    const variables: string[] = [];
    const names = new Set<string>();
    for (const [variable, t] of tracked) {
      const d = digest(t.path);
      if (d === null || (d === t.digest && reason === 'file')) continue;
      t.digest = d;
      variables.push(variable);
      for (const n of t.upstreams) names.add(n);
    }
    if (reason === 'signal') for (const n of opts.upstreams.keys()) names.add(n);
    if (names.size === 0) return;
    const upstreams = [...names].sort();
    opts.refresh(upstreams);
    opts.onRotate?.({ reason, variables: variables.sort(), upstreams });
  };

  let timer: NodeJS.Timeout | undefined;
  const soon = (): void => {
    // Editors and secret mounts write in several steps: look once things settle.
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      check('file');
    }, 20);
  };

  const watchers: FSWatcher[] = [];
  const dirs = new Map<string, Set<string>>();
  for (const t of tracked.values()) {
    const set = dirs.get(dirname(t.path)) ?? new Set<string>();
    set.add(basename(t.path));
    dirs.set(dirname(t.path), set);
  }
  for (const [dir, namesInDir] of dirs) {
    try {
      const w = watch(dir, { persistent: false }, (_event, filename) => {
        if (!filename || namesInDir.has(String(filename)) || String(filename).startsWith('..')) soon();
      });
      w.on('error', () => {});
      watchers.push(w);
    } catch {
      // An unwatchable directory: rotation still works through SIGHUP and the 401 refresh.
    }
  }

  const onHup = (): void => check('signal');
  const sighup = opts.sighup !== false;
  if (sighup) process.on('SIGHUP', onHup);

  return {
    files: new Map([...tracked].map(([v, t]) => [v, t.path])),
    check,
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
      if (sighup) process.off('SIGHUP', onHup);
    },
  };
}
