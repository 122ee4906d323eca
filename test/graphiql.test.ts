/**
 * GraphiQL served by the gateway, on a closed network: real headless Chromium (playwright-core,
 * Debian's chromium) with every request to a host other than the gateway's aborted and counted. The
 * page loads, draws the editor under its Content-Security-Policy, has one tab per operation of
 * operations/ with its example variables and, in sandbox mode, the demo token's header; ProductPage
 * and Viewer run from it. Over HTTP: the page's headers and files, no demo header outside sandbox
 * mode, no GraphiQL in production. A screenshot is saved to test/artifacts/.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page, Request, Response } from 'playwright-core';
import { launchChromium } from './support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPHIQL_CSP } from '../src/http/graphiql.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const OPERATIONS_DIR = new URL('../operations/', import.meta.url);
/** The operations' names, as their files name them (the tabs, in this order). */
const NAMES = readdirSync(OPERATIONS_DIR)
  .filter((f) => f.endsWith('.graphql'))
  .sort()
  .map((f) => f.replace(/\.graphql$/, ''));
const example = (name: string) => JSON.parse(readFileSync(new URL(`${name}.variables.json`, OPERATIONS_DIR), 'utf8')) as Record<string, unknown>;

/** The page's HTML and headers, as a browser asks for it. */
async function graphiqlPage(url: string): Promise<{ status: number; headers: Headers; html: string }> {
  const res = await fetch(`${url}/graphql`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  return { status: res.status, headers: res.headers, html: await res.text() };
}

/** The options the page embeds for GraphiQL. */
function embeddedOptions(html: string): { title?: string; headers?: string; defaultTabs?: { query: string; variables?: string; headers?: string }[] } {
  const m = /<script type="application\/json" id="graphiql-options">([^<]*)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!);
}

/** The files the page links (scripts, styles, icon), as absolute URLs. */
function linkedFiles(url: string, html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1]!, `${url}/graphql`).toString());
}

/**
 * Select a tab by its name. GraphiQL's tabs are framer-motion reorderable items: a tab that still
 * carries the transform of the tab bar's first layout takes its first click as the start of a drag
 * (the transform is reset, the tab is not selected), so the click is repeated, at most three times.
 */
async function selectTab(page: Page, name: string): Promise<void> {
  const active = `.graphiql-tab-active .graphiql-tab-button[title="${name}"]`;
  for (let attempt = 1; attempt <= 3; attempt++) {
    await page.click(`.graphiql-tab-button[title="${name}"]`);
    try {
      await page.waitForSelector(active, { timeout: 2_000 });
      return;
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
}

/**
 * Press GraphiQL's run button and wait for the answer to the operation it sends. A click that lands
 * while the toolbar is drawn again (after a tab change, on a loaded machine) sends nothing; it is
 * repeated then, at most three times (the test counts the operations sent, so none is sent twice).
 */
async function execute(page: Page, operationName: string): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const answered = page.waitForResponse((r) => r.request().method() === 'POST' && JSON.parse(r.request().postData() ?? '{}').operationName === operationName, { timeout: 5_000 });
    await page.click('.graphiql-execute-button');
    try {
      return await answered;
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
}

describe('GraphiQL offline, in sandbox mode', () => {
  let s: Stack;
  let browser: Browser;
  beforeAll(async () => {
    s = await startStack();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('serves the page and every file it needs itself, under a self-only CSP', async () => {
    expect(s.gateway.config.sandbox).toBe(true);
    const page = await graphiqlPage(s.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(GRAPHIQL_CSP);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.html).not.toMatch(/unpkg|cdn|https?:\/\//i);
    // No inline script: one JSON element and one script file.
    expect([...page.html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual([
      '<script type="application/json" id="graphiql-options">',
      expect.stringMatching(/^<script src="\.\/graphiql\/[0-9a-f]{16}\/graphiql\.js">$/),
    ]);
    const files = linkedFiles(s.url, page.html);
    expect(files.map((f) => f.replace(/.*\//, ''))).toEqual(['favicon.ico', 'graphiql.css', 'graphiql.js']);
    for (const f of files) {
      expect(new URL(f).origin).toBe(new URL(s.url).origin);
      const res = await fetch(f);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    // Monaco's workers are files beside the script; an unknown file or an old digest is a 404.
    const base = files[2]!.replace(/graphiql\.js$/, '');
    for (const w of ['editorWorkerService', 'json', 'graphql']) expect((await fetch(`${base}worker-${w}.js`)).status).toBe(200);
    expect((await fetch(`${base}nope.js`)).status).toBe(404);
    const old = await fetch(`${s.url}/graphiql/0000000000000000/graphiql.js`);
    expect(old.status).toBe(404);
    expect(((await old.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('NOT_FOUND');

    // One tab per operation, its example variables when it has any, the demo token's header in each.
    const options = embeddedOptions(page.html);
    const header = JSON.stringify({ Authorization: `Bearer ${s.gateway.demoToken}` }, null, 2);
    expect(s.gateway.demoToken).toMatch(/^ey/);
    expect(options.headers).toBe(header);
    expect(options.defaultTabs!.map((t) => /^(?:query|mutation) (\w+)/.exec(t.query)![1])).toEqual(NAMES);
    for (const [i, tab] of options.defaultTabs!.entries()) {
      expect(tab.query).toBe(readFileSync(new URL(`${NAMES[i]}.graphql`, OPERATIONS_DIR), 'utf8'));
      expect(tab.headers).toBe(header);
      if (NAMES[i] === 'Viewer') expect(tab.variables).toBeUndefined();
      else expect(JSON.parse(tab.variables!)).toEqual(example(NAMES[i]!));
    }
  });

  it('every example runs as it is preloaded', async () => {
    const auth = { authorization: `Bearer ${s.gateway.demoToken}` };
    for (const name of NAMES.filter((n) => n !== 'Viewer')) {
      const r = await s.gql(OPERATIONS[name as keyof typeof OPERATIONS], example(name), auth);
      expect(r.status, name).toBe(200);
      expect(r.body.errors, name).toBeUndefined();
      expect(Object.values(r.body.data as object)[0], name).not.toBeNull();
    }
  });

  it('draws the editor and runs ProductPage and Viewer with every outside host blocked', async () => {
    const origin = new URL(s.url).origin;
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const requests: string[] = [];
    const blocked: string[] = [];
    await context.route('**/*', (route) => {
      const u = route.request().url();
      requests.push(u);
      if (new URL(u).origin === origin) return route.continue();
      blocked.push(u);
      return route.abort('internetdisconnected');
    });
    // CSP violations, as the page itself sees them.
    await context.addInitScript(() => {
      const w = window as unknown as { __violations: string[] };
      w.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => w.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
    });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const posts: Request[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') posts.push(r);
    });

    await page.goto(`${s.url}/graphql`);
    await page.waitForSelector('.graphiql-container .graphiql-query-editor .monaco-editor .view-lines');
    const tabs = await page.$$eval('.graphiql-tab .graphiql-tab-button', (els) => els.map((e) => e.textContent));
    expect(tabs).toEqual(NAMES);

    // ProductPage: its tab, its example variables and the demo header go out; the result pane shows the product.
    const expected = await s.gql(OPERATIONS.ProductPage, example('ProductPage'), { authorization: `Bearer ${s.gateway.demoToken}` });
    const product = expected.body.data.product;
    expect(product.title).toBeTruthy();
    // Monaco draws spaces as no-break spaces.
    const editorText = async (selector: string) => ((await page.textContent(selector)) ?? '').replace(/\u00a0/g, ' ');
    /** Waits until the query editor shows this text (a tab's document is put in the editor after the tab is selected). */
    const editorShows = (text: string) => page.waitForFunction((t) => document.querySelector('.graphiql-query-editor .view-lines')?.textContent?.replace(/\u00a0/g, ' ').includes(t), text);
    await selectTab(page, 'ProductPage');
    await editorShows('query ProductPage($id: ID!, $country: String!, $postcode: String!) {');
    const response = await execute(page, 'ProductPage');
    const sent = response.request();
    expect(await sent.headerValue('authorization')).toBe(`Bearer ${s.gateway.demoToken}`);
    expect(JSON.parse(sent.postData()!).variables).toEqual(example('ProductPage'));
    const got = (await response.json()) as { data: { product: typeof product }; errors?: unknown };
    expect(got.errors).toBeUndefined();
    expect(got.data.product.id).toBe('1');
    expect(got.data.product.title).toBe(product.title);
    expect(got.data.product.recommendations.map((p: { id: string }) => p.id)).toEqual(product.recommendations.map((p: { id: string }) => p.id));
    await page.waitForFunction((title) => document.querySelector('.graphiql-response')?.textContent?.replace(/\u00a0/g, ' ').includes(title), product.title);
    const pane = await editorText('.graphiql-response');
    expect(pane).toContain('"product": {');
    expect(pane).toContain('"id": "1"');
    expect(pane).toContain(`"title": ${JSON.stringify(product.title)}`);
    expect(pane).toContain(`"sku": ${JSON.stringify(product.sku)}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}graphiql.png` });

    // Viewer: the preset header signs in sandbox user 1.
    const viewer = (await s.gql(OPERATIONS.Viewer, {}, { authorization: `Bearer ${s.gateway.demoToken}` })).body.data.viewer;
    expect(viewer.id).toBe('1');
    await selectTab(page, 'Viewer');
    await editorShows('query Viewer {');
    expect(((await (await execute(page, 'Viewer')).json()) as { data: { viewer: typeof viewer } }).data.viewer).toEqual(viewer);
    await page.waitForFunction((name) => document.querySelector('.graphiql-response')?.textContent?.replace(/\u00a0/g, ' ').includes(name), viewer.firstName);

    // Nothing left the gateway's origin, nothing was refused by the CSP, no script error.
    expect(blocked).toEqual([]);
    expect(requests.length).toBeGreaterThan(5);
    expect(requests.every((u) => new URL(u).origin === origin)).toBe(true);
    // Every POST went to the gateway's /graphql: the schema's introspection, ProductPage, Viewer.
    expect(posts.map((r) => new URL(r.url()).pathname)).toEqual(posts.map(() => '/graphql'));
    expect(posts.map((r) => JSON.parse(r.postData()!).operationName)).toEqual(['IntrospectionQuery', 'ProductPage', 'Viewer']);
    expect(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations)).toEqual([]);
    expect(problems).toEqual([]);

    // The CSP is enforced, not only sent: an inline script injected into the page does not run.
    const ran = await page.evaluate(() => {
      const el = document.createElement('script');
      el.textContent = 'window.__injected = true';
      document.body.appendChild(el);
      return (window as unknown as { __injected?: boolean }).__injected ?? false;
    });
    expect(ran).toBe(false);
    expect(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations)).toEqual(['script-src-elem inline']);
    await context.close();
  }, 90_000);
});

describe('GraphiQL outside sandbox mode', () => {
  it('has the tabs but no demo header when upstream URLs are configured', async () => {
    // One UPSTREAM_*_URL set: not sandbox mode (the stack still hands the gateway its sandbox's URLs).
    const s = await startStack({ env: { UPSTREAM_CATALOG_URL: 'http://127.0.0.1:9' } });
    try {
      expect(s.gateway.config.sandbox).toBe(false);
      expect(s.gateway.demoToken).toBeUndefined();
      const page = await graphiqlPage(s.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toBe(GRAPHIQL_CSP);
      const options = embeddedOptions(page.html);
      expect(options.defaultTabs).toHaveLength(NAMES.length);
      expect(options.headers).toBeUndefined();
      expect(options.defaultTabs!.every((t) => t.headers === undefined)).toBe(true);
      expect(page.html).not.toMatch(/authorization|bearer/i);
    } finally {
      await s.close();
    }
  });

  it('has no demo header in sandbox mode when JWT_SECRET is set (a token it signs is a credential)', async () => {
    const s = await startStack({ env: { JWT_SECRET: 'a-secret-someone-set-0123456789abcdef' } });
    try {
      expect(s.gateway.config.sandbox).toBe(true);
      expect(s.gateway.demoToken).toBeUndefined();
      const page = await graphiqlPage(s.url);
      const options = embeddedOptions(page.html);
      expect(options.defaultTabs).toHaveLength(NAMES.length);
      expect(options.headers).toBeUndefined();
      expect(page.html).not.toMatch(/authorization|bearer|eyJ/i);
    } finally {
      await s.close();
    }
  });

  it('is not served in production', async () => {
    const s = await startStack({ env: { NODE_ENV: 'production', JWT_SECRET: 'production-test-secret-0123456789abcdef', LOG_LEVEL: 'warn' } });
    try {
      const page = await graphiqlPage(s.url);
      expect(page.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
      expect(page.html).not.toMatch(/graphiql/i);
      expect((await fetch(`${s.url}/graphiql/0000000000000000/graphiql.js`)).status).toBe(404);
      expect(s.gateway.demoToken).toBeUndefined();
    } finally {
      await s.close();
    }
  });
});
