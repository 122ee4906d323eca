/**
 * A Node request seen as the Fetch `Request` yoga's hooks read: method, URL, headers and the body,
 * already parsed by the server. Building a real `Request` (full URL, `Headers`, a body stream, an
 * abort controller and its listeners) is what the fast path saves.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/**
 * The Fetch `Headers` reading methods over a Node request's headers (lower-cased by Node; a
 * repeated header is joined with ", " as a Fetch `Headers` joins it).
 */
class NodeHeadersView {
  constructor(private readonly headers: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const v = this.headers[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }

  has(name: string): boolean {
    return this.headers[name.toLowerCase()] !== undefined;
  }

  forEach(fn: (value: string, key: string) => void): void {
    for (const [key, value] of this.entries()) fn(value, key);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const key of Object.keys(this.headers)) {
      const v = this.get(key);
      if (v !== null) yield [key, v];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * What yoga and its plugins read of a `Request` whose body the server has parsed: method, URL,
 * headers and `json()`. There is no body stream (`body` is null): the body was read, under the
 * size limit, by the server.
 */
export class NodeRequestView {
  readonly headers: NodeHeadersView;
  readonly body = null;
  readonly bodyUsed = true;
  readonly method: string;
  readonly url: string;

  constructor(
    req: IncomingMessage,
    private readonly parsed: unknown,
  ) {
    this.method = req.method ?? 'POST';
    this.headers = new NodeHeadersView(req.headers);
    this.url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
  }

  /** The parsed body, as a value: yoga's JSON parser takes it without a promise round trip. */
  json(): unknown {
    return this.parsed;
  }

  text(): string {
    return JSON.stringify(this.parsed);
  }
}
