/** The README's table of upstreams is generated from the definitions (`npm run readme`), never kept by hand. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README_PATH, upstreamTable, withUpstreamTable } from '../scripts/readme-upstreams.js';
import { upstreamList } from '../upstreams/index.js';

describe('README table of upstreams', () => {
  it('is current: one row per discovered definition, with its URL and credential variables', () => {
    const readme = readFileSync(README_PATH, 'utf8');
    expect(withUpstreamTable(readme, upstreamList), 'run `npm run readme` and commit README.md').toBe(readme);
    const table = upstreamTable(upstreamList);
    for (const d of upstreamList) expect(table).toContain(`| ${d.name} |`);
    expect(table.split('\n')).toHaveLength(upstreamList.length + 2);
  });
});
