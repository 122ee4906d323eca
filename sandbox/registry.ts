/**
 * Discovery: every `sandbox/upstreams/<name>.ts` (or `.js` once compiled) is a sandbox upstream whose
 * default export is its descriptor. Files with a further dot (`<name>.<part>.ts`) are helpers of one
 * and are not upstreams. Loaded once, when this module is first imported.
 */
import { readdirSync } from 'node:fs';
import type { SandboxUpstreamDescriptor } from './descriptor.js';

const DIR = new URL('./upstreams/', import.meta.url);

async function discover(): Promise<readonly SandboxUpstreamDescriptor[]> {
  const files = new Map<string, string>();
  for (const f of readdirSync(DIR).sort()) {
    const m = /^([a-z][a-z0-9-]*)\.(ts|js|mjs)$/.exec(f);
    if (m && !files.has(m[1]!)) files.set(m[1]!, f);
  }
  const found: SandboxUpstreamDescriptor[] = [];
  for (const [name, file] of files) {
    const mod = (await import(new URL(file, DIR).href)) as { default?: SandboxUpstreamDescriptor };
    const d = mod.default;
    if (!d || typeof d.create !== 'function') throw new TypeError(`sandbox/upstreams/${file} has no default export made with defineSandboxUpstream`);
    if (d.name !== name) throw new TypeError(`sandbox/upstreams/${file} describes '${d.name}'; a sandbox upstream's name is its file's name`);
    found.push(d);
  }
  found.sort((a, b) => a.portOffset - b.portOffset);
  for (let i = 1; i < found.length; i++) {
    if (found[i]!.portOffset === found[i - 1]!.portOffset) {
      throw new TypeError(`sandbox upstreams ${found[i - 1]!.name} and ${found[i]!.name} share port offset ${found[i]!.portOffset}`);
    }
  }
  const owners = new Map<string, string>();
  for (const d of found) {
    for (const key of Object.keys(d.credentials)) {
      const other = owners.get(key);
      if (other) throw new TypeError(`sandbox upstreams ${other} and ${d.name} both declare credential '${key}'`);
      owners.set(key, d.name);
    }
  }
  return Object.freeze(found);
}

/** Every sandbox upstream's descriptor, in port order. */
export const DESCRIPTORS: readonly SandboxUpstreamDescriptor[] = await discover();
