/**
 * Persisted (trusted) documents: the operations of `operations/` are hashed (SHA-256 of the document
 * text, trimmed) into a manifest (`generated/persisted-operations.json`, written by
 * `npm run persisted`). A client sends `documentId: "sha256:<hex>"` (or Apollo's
 * `extensions.persistedQuery.sha256Hash`) instead of the document; a document sent in full whose hash
 * is in the manifest counts as persisted too. A client limited to persisted operations, or every
 * client when `PERSISTED_OPERATIONS=only`, is refused anything else.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.js';

export interface PersistedOperation {
  readonly name: string;
  readonly sha256: string;
  readonly document: string;
}

export interface PersistedManifest {
  readonly algorithm: 'sha256';
  /** Sorted by name. */
  readonly operations: readonly PersistedOperation[];
}

/** The manifest's hash of a document: SHA-256 hex of the text without surrounding whitespace. */
export function documentHash(document: string): string {
  return createHash('sha256').update(document.trim(), 'utf8').digest('hex');
}

/** Build the manifest from every `*.graphql` file of a folder (one operation per file, named by the file). Deterministic. */
export function buildManifest(dir: string): PersistedManifest {
  const operations = readdirSync(dir)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => {
      const document = readFileSync(join(dir, f), 'utf8').trim();
      return { name: f.replace(/\.graphql$/, ''), sha256: documentHash(document), document };
    });
  return { algorithm: 'sha256', operations };
}

/** The manifest as written to disk (stable key order, trailing newline). */
export function manifestText(m: PersistedManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Persisted documents by hash. */
export class PersistedDocuments {
  private readonly byHash: ReadonlyMap<string, PersistedOperation>;
  constructor(manifest: PersistedManifest) {
    this.byHash = new Map(manifest.operations.map((o) => [o.sha256, o]));
  }

  /** Read a manifest file; a missing or malformed one fails with a message naming it. */
  static fromFile(path: string): PersistedDocuments {
    let m: PersistedManifest;
    try {
      m = JSON.parse(readFileSync(path, 'utf8')) as PersistedManifest;
    } catch {
      throw new ConfigurationError(`The persisted operations manifest ${path} cannot be read; run \`npm run persisted\`.`);
    }
    if (m?.algorithm !== 'sha256' || !Array.isArray(m.operations)) throw new ConfigurationError(`The persisted operations manifest ${path} is malformed.`);
    return new PersistedDocuments(m);
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The document of a hash (`<hex>` or `sha256:<hex>`), if persisted. */
  get(id: string): PersistedOperation | undefined {
    return this.byHash.get(id.replace(/^sha256:/, '').toLowerCase());
  }

  /** Whether a full document text is one of the persisted ones. */
  has(document: string): boolean {
    return this.byHash.has(documentHash(document));
  }
}
