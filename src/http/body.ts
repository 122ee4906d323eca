/**
 * Reading a JSON POST body under the size limit. The server reads the body of the requests yoga
 * would parse as JSON itself: a body over the limit is refused as it arrives (even without a
 * Content-Length), and the parsed value is handed on (to the fast path, or to yoga's Node adapter,
 * which then skips its stream pipeline and second parse). Node's stream API is all this needs.
 */
import type { IncomingMessage } from 'node:http';

/**
 * Yoga's JSON request types (its `isPOSTJsonRequest`): the first listed type, with or without
 * parameters, compared without case (media types are case-insensitive: `APPLICATION/JSON` is JSON).
 */
export function isJsonContentType(type: string | undefined): boolean {
  if (!type) return false;
  const first = type.split(',', 1)[0]!.trim().toLowerCase();
  return first === 'application/json' || first.startsWith('application/json;') || first === 'application/graphql+json' || first.startsWith('application/graphql+json;');
}

/** A body read to its end: its text, and its JSON value when that is an object with keys (else undefined). */
export interface ReadBody {
  readonly text: string;
  readonly parsed: object | undefined;
}

/**
 * Read a request's body. `onTooLarge` is called (once, and nothing else after) as soon as it
 * exceeds `maxBytes`; `onError` when the stream fails; else `onBody` at its end.
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number, on: { onBody(body: ReadBody): void; onTooLarge(): void; onError(): void }): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (size > maxBytes) return;
    size += chunk.length;
    if (size > maxBytes) return on.onTooLarge();
    chunks.push(chunk);
  });
  req.on('error', () => on.onError());
  req.on('end', () => {
    if (size > maxBytes) return;
    const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined; // yoga answers malformed JSON with its own error
    }
    // An object with keys is used as parsed; anything else goes to yoga as text, to be refused there.
    const usable = parsed !== null && typeof parsed === 'object' && Object.keys(parsed).length > 0;
    on.onBody({ text, parsed: usable ? (parsed as object) : undefined });
  });
}
