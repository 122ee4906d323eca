/**
 * GraphiQL served by the gateway itself, for browsers on a closed network: yoga's GraphiQL, as
 * `@graphql-yoga/render-graphiql` bundles it (React, Monaco and its workers, the CSS with its fonts),
 * served as files under `/graphiql/<digest>/` rather than from a CDN. The page at `/graphql` is small
 * (options embedded as JSON, no inline script) and sent with a Content-Security-Policy that lets it
 * load and connect to this origin only; the files are immutable (their digest is in the path).
 *
 * The bundle (~9 MB) is loaded on the first GraphiQL request, never in production (GraphiQL is off there).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';
import { errorBody, sendJson } from './refusals.js';
import type { Route } from './routes.js';

/** One preloaded tab: its document, and optionally its variables (JSON text). */
export interface GraphiQLTab {
  readonly query: string;
  readonly variables?: string | undefined;
}

export interface GraphiQLSetup {
  /** The page's title. */
  readonly title?: string;
  /** Tabs a browser opens with when it has none stored yet. */
  readonly tabs?: readonly GraphiQLTab[];
  /** Headers preset in every tab, and in any tab opened later (e.g. a sandbox's demo token). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface OfflineGraphiQL {
  /** yoga's `graphiql` option. */
  readonly options: GraphiQLOptions;
  /** yoga's `renderGraphiQL` option: the page, whose scripts and styles are this gateway's files. */
  readonly render: (options?: GraphiQLOptions) => Promise<string>;
  /** Sets the page's security headers (yoga's GraphiQL response is its only HTML). */
  readonly plugin: Plugin;
  /** `GET /graphiql/<digest>/<file>`: the bundle's files. */
  readonly routes: readonly Route[];
}

/** Where the files are served, under the gateway's root; the page links them relatively, so a path prefix in front of the gateway keeps working. */
const ASSET_ROOT = '/graphiql/';

/**
 * The page's Content-Security-Policy: scripts, styles, workers and connections from this origin only.
 * Images and fonts also as `data:` URLs (the stylesheet embeds its fonts and icons that way), and inline
 * styles (Monaco creates style elements at run time, without a nonce); no inline script, no eval.
 */
export const GRAPHIQL_CSP =
  "default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

interface Assets {
  readonly digest: string;
  readonly files: ReadonlyMap<string, Asset>;
}

/** Monaco's workers by the label it asks for (the labels yoga's own page maps). */
const WORKERS = { editorWorkerService: 'editorWorkerService', json: 'jsonWorker', graphql: 'graphqlWorker' } as const;

/** Before the bundle: Monaco's workers are files next to this script. */
const PRELUDE = `(function () {
  var base = document.currentScript.src.replace(/[^/]*$/, '');
  self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: function (_moduleId, label) { return base + 'worker-' + label + '.js'; } };
})();
`;

/** After the bundle: render with the options the page embeds. */
const START = `
;YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), JSON.parse(document.getElementById('graphiql-options').textContent));
`;

async function loadAssets(): Promise<Assets> {
  const bundle = await import('@graphql-yoga/render-graphiql/graphiql');
  const js = (text: string): Asset => ({ type: 'text/javascript; charset=utf-8', body: Buffer.from(text) });
  const files = new Map<string, Asset>([
    ['graphiql.js', js(PRELUDE + bundle.js + START)],
    ['graphiql.css', { type: 'text/css; charset=utf-8', body: Buffer.from(bundle.css) }],
    ['favicon.ico', favicon(bundle.favicon)],
    ...Object.entries(WORKERS).map(([label, name]) => [`worker-${label}.js`, js(bundle[name])] as [string, Asset]),
  ]);
  const hash = createHash('sha256');
  for (const [name, asset] of files) hash.update(name).update(asset.body);
  return { digest: hash.digest('hex').slice(0, 16), files };
}

/** The bundle's favicon, a `data:` URL, as a file. */
function favicon(dataUrl: string): Asset {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(dataUrl);
  return m ? { type: m[1]!, body: Buffer.from(m[2]!, 'base64') } : { type: 'image/x-icon', body: Buffer.alloc(0) };
}

/** JSON safe inside a `<script type="application/json">` element. */
function embed(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(digest: string, options: GraphiQLOptions): string {
  // Relative to /graphql: ./graphiql/<digest>/...
  const base = `.${ASSET_ROOT}${digest}/`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(options.title ?? 'GraphiQL')}</title>
<link rel="icon" href="${base}favicon.ico">
<link rel="stylesheet" href="${base}graphiql.css">
</head>
<body class="no-focus-outline">
<noscript>GraphiQL needs JavaScript.</noscript>
<div id="root"></div>
<script type="application/json" id="graphiql-options">${embed(options)}</script>
<script src="${base}graphiql.js"></script>
</body>
</html>
`;
}

/**
 * GraphiQL from the gateway's own files, with preloaded tabs and preset headers.
 *
 * @example
 * const graphiql = offlineGraphiQL({ title: 'Tributary', tabs: [{ query: 'query Viewer { viewer { id } }' }] });
 * createYoga({ graphiql: graphiql.options, renderGraphiQL: graphiql.render, plugins: [graphiql.plugin] });
 */
export function offlineGraphiQL(setup: GraphiQLSetup = {}): OfflineGraphiQL {
  let assets: Promise<Assets> | undefined;
  const load = () => (assets ??= loadAssets());
  const headers = setup.headers && Object.keys(setup.headers).length > 0 ? JSON.stringify(setup.headers, null, 2) : undefined;
  const options: GraphiQLOptions = {
    ...(setup.title ? { title: setup.title } : {}),
    ...(headers ? { headers } : {}),
    ...(setup.tabs && setup.tabs.length > 0
      ? { defaultTabs: setup.tabs.map((t) => ({ query: t.query, ...(t.variables ? { variables: t.variables } : {}), ...(headers ? { headers } : {}) })) }
      : {}),
  };

  async function serveAsset(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const { digest, files } = await load();
    const [, , at, name] = ((req.url ?? '').split('?', 1)[0] ?? '').split('/');
    const asset = at === digest && name ? files.get(name) : undefined;
    if (!asset) return sendJson(res, 404, errorBody('Not found. GraphQL is served at /graphql.', 'NOT_FOUND', requestId));
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    });
    res.end(asset.body);
  }

  return {
    options,
    render: async (opts) => page((await load()).digest, opts ?? options),
    plugin: {
      onResponse({ response }) {
        if (!response.headers.get('content-type')?.startsWith('text/html')) return;
        response.headers.set('content-type', 'text/html; charset=utf-8');
        response.headers.set('content-security-policy', GRAPHIQL_CSP);
        // The page may carry a sandbox's demo token: never stored by a cache.
        response.headers.set('cache-control', 'no-store');
        response.headers.set('x-content-type-options', 'nosniff');
        response.headers.set('referrer-policy', 'no-referrer');
      },
    },
    routes: [{ method: 'GET', path: ASSET_ROOT, handle: serveAsset }],
  };
}
