/**
 * The waterfall page in real headless Chromium (playwright-core, Debian's chromium): one bar per
 * upstream call of the chosen trace, ordered by start, coloured by outcome, details on click, no
 * script or CSP errors; a screenshot is saved to test/artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trace } from '../src/observability/index.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

describe('the waterfall page', () => {
  let s: Stack;
  let browser: Browser;
  beforeAll(async () => {
    s = await startStack({ sandbox: { faults: { reviews: { error: { probability: 1, status: 503 } } } }, env: { HEDGING: 'off' } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('draws one bar per upstream call ordered by start, and shows a call on click', async () => {
    // Warm the cache for product 1, so the traced request has cache hits as well as calls and retries.
    await s.gql(OPERATIONS.ProductPage, { id: '3', country: 'US', postcode: '10001' });
    await s.gql(OPERATIONS.ProductPage, { id: '1', country: 'US', postcode: '10001' }, { 'x-request-id': 'wf-1' });
    const trace = (await (await fetch(`${s.url}/traces/wf-1`)).json()) as Trace;
    expect(trace.calls.length).toBeGreaterThan(5);
    expect(trace.cache.length).toBeGreaterThan(0);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));

    // The list links to the trace.
    await page.goto(`${s.url}/traces`);
    await page.click('a[href="/traces/wf-1"]');
    await page.waitForSelector('#waterfall .row');
    expect(page.url()).toBe(`${s.url}/traces/wf-1`);

    const bars = await page.$$eval('#waterfall .bar.call', (els) =>
      els.map((el) => ({ cls: el.className, offset: Number((el as HTMLElement).dataset.offset), left: el.getBoundingClientRect().left, width: el.getBoundingClientRect().width })),
    );
    expect(bars.length).toBe(trace.calls.length);
    expect(bars.map((b) => b.offset)).toEqual(trace.calls.map((c) => c.offsetMs));
    for (let i = 1; i < bars.length; i++) {
      expect(bars[i]!.offset).toBeGreaterThanOrEqual(bars[i - 1]!.offset);
      expect(bars[i]!.left).toBeGreaterThanOrEqual(bars[i - 1]!.left - 0.5);
    }
    expect(bars.every((b) => b.width > 0)).toBe(true);
    expect(bars.map((b) => b.cls.split(' ').at(-1))).toEqual(trace.calls.map((c) => c.outcome));
    expect(bars.filter((b) => b.cls.endsWith('retried'))).toHaveLength(2);
    expect(bars.filter((b) => b.cls.endsWith('error'))).toHaveLength(1);
    expect(await page.$$eval('#waterfall .bar.cache', (els) => els.length)).toBe(trace.cache.length);
    // colours differ by outcome
    const colour = (cls: string) => page.$eval(`#waterfall .bar.call.${cls}`, (el) => getComputedStyle(el).backgroundColor);
    expect(new Set([await colour('ok'), await colour('retried'), await colour('error')]).size).toBe(3);

    // Click the failed reviews call: its details appear.
    const failed = trace.calls.findIndex((c) => c.outcome === 'error');
    const rows = await page.$$('#waterfall .row.call');
    expect(rows.length).toBe(trace.calls.length);
    await rows[failed]!.click();
    const details = await page.textContent('#details');
    const call = trace.calls[failed]!;
    expect(details).toContain(`${call.method} ${call.upstream}.${call.endpoint}`);
    expect(details).toContain(JSON.stringify(call.path));
    expect(details).toContain('"status": 503');
    expect(details).toContain('"attempt": 3');
    expect(await page.$$eval('#waterfall .row.selected', (els) => els.length)).toBe(1);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}waterfall.png`, fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('never interprets trace data as markup', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    await s.gql(`query X { product(id: ${JSON.stringify(evil)}) { id } }`, {}, { 'x-request-id': 'wf-evil' });
    const page = await browser.newPage();
    let dialogs = 0;
    page.on('dialog', async (d) => {
      dialogs++;
      await d.dismiss();
    });
    await page.goto(`${s.url}/traces/wf-evil`);
    await page.waitForSelector('#waterfall .row');
    await page.click('#waterfall .row.call');
    expect(await page.textContent('#details')).toContain('/products/%3Cimg');
    expect(await page.$$('img')).toHaveLength(0);
    expect(dialogs).toBe(0);
    await page.close();
  });
});
