/**
 * Persisted (trusted) documents: the operations of `operations/` are hashed (SHA-256 of the document
 * text, trimmed) into a manifest (`generated/persisted-operations.json`, written by
 * `npm run persisted`). A client sends `documentId: "sha256:<hex>"` (Relay's `doc_id`, or Apollo's
 * `extensions.persistedQuery.sha256Hash`) instead of the document; a document sent in full whose text
 * is in the manifest counts as persisted too. A client limited to persisted operations, or every
 * client when `PERSISTED_OPERATIONS=only`, is refused anything else.
 *
 * The manifests other tools write are read too, their ids taken as they declare them: Apollo's
 * persisted query manifest (`generate-persisted-query-manifest`: `{ format:
 * "apollo-persisted-query-manifest", version: 1, operations: [{ id, name, type, body }] }`) and
 * GraphQL Code Generator's client preset `persisted-documents.json` (`{ "<id>": "<document>" }`).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getOperationAST, parse } from 'graphql';
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

/** The formats of manifest `PersistedDocuments.fromFile` reads. */
export type ManifestFormat = 'tributary' | 'apollo' | 'codegen';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The name of a document's operation (its only one), for logs and errors; '' when anonymous or unparsable. */
function operationName(document: string): string {
  try {
    return getOperationAST(parse(document, { noLocation: true }))?.name?.value ?? '';
  } catch {
    return '';
  }
}

/**
 * The operations of a parsed manifest file, in whichever format it is, each under the id the file
 * declares for it; undefined (with the reason) when it is none of them.
 */
export function readManifest(m: unknown): { format: ManifestFormat; operations: PersistedOperation[] } | { error: string } {
  if (!isObject(m)) return { error: 'it is not a JSON object' };
  if (m.algorithm === 'sha256' && Array.isArray(m.operations)) {
    const ops = m.operations as unknown[];
    if (!ops.every((o) => isObject(o) && typeof o.sha256 === 'string' && typeof o.document === 'string')) return { error: 'an operation lacks "sha256" or "document"' };
    return { format: 'tributary', operations: ops as PersistedOperation[] };
  }
  if (m.format === 'apollo-persisted-query-manifest') {
    if (m.version !== 1 || !Array.isArray(m.operations)) return { error: 'an Apollo manifest must have "version": 1 and "operations"' };
    const ops = m.operations as unknown[];
    if (!ops.every((o) => isObject(o) && typeof o.id === 'string' && typeof o.body === 'string')) return { error: 'an operation of the Apollo manifest lacks "id" or "body"' };
    return { format: 'apollo', operations: (ops as { id: string; name?: unknown; body: string }[]).map((o) => ({ name: typeof o.name === 'string' ? o.name : operationName(o.body), sha256: o.id, document: o.body })) };
  }
  const entries = Object.entries(m);
  if (entries.length > 0 && entries.every(([, v]) => typeof v === 'string')) {
    return { format: 'codegen', operations: (entries as [string, string][]).map(([id, document]) => ({ name: operationName(document), sha256: id, document })) };
  }
  return { error: 'it is none of the formats read: ours (npm run persisted), Apollo\'s persisted query manifest, or GraphQL Code Generator\'s persisted-documents.json' };
}

/** Persisted documents by id (as the manifest declares it) and by text. */
export class PersistedDocuments {
  private readonly byId: ReadonlyMap<string, PersistedOperation>;
  /** Our hash (`documentHash`) of every document's text, whatever ids the manifest declares. */
  private readonly texts: ReadonlySet<string>;
  readonly format: ManifestFormat;
  constructor(manifest: PersistedManifest | { operations: readonly PersistedOperation[] }, format: ManifestFormat = 'tributary') {
    this.format = format;
    this.byId = new Map(manifest.operations.map((o) => [o.sha256, o]));
    this.texts = new Set(manifest.operations.map((o) => documentHash(o.document)));
  }

  /** Read a manifest file (any format `readManifest` knows); a missing or malformed one fails with a message naming it. */
  static fromFile(path: string): PersistedDocuments {
    let m: unknown;
    try {
      m = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      throw new ConfigurationError(`The persisted operations manifest ${path} cannot be read; run \`npm run persisted\`.`);
    }
    const read = readManifest(m);
    if ('error' in read) throw new ConfigurationError(`The persisted operations manifest ${path} is malformed: ${read.error}.`);
    return new PersistedDocuments({ operations: read.operations }, read.format);
  }

  get size(): number {
    return this.byId.size;
  }

  /** The document of an id: as declared (`<hex>`, `sha256:<hex>`, or any other), or a SHA-256 id with or without its `sha256:` prefix. */
  get(id: string): PersistedOperation | undefined {
    const found = this.byId.get(id);
    if (found) return found;
    const hex = id.replace(/^sha256:/i, '').toLowerCase();
    return this.byId.get(hex) ?? this.byId.get(`sha256:${hex}`);
  }

  /** Whether a full document text is one of the persisted ones. */
  has(document: string): boolean {
    return this.texts.has(documentHash(document));
  }
}
