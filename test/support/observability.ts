/**
 * Test support for the observability tests: a strict parser of the Prometheus text exposition
 * format (0.0.4) and helpers that read the sandbox's `__stats`.
 */
import type { Sandbox } from '../../sandbox/index.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)/y;

/** Parse Prometheus text; throws on any line that is not valid exposition format. */
export function parsePrometheus(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line === '') return;
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1} ${why}: ${JSON.stringify(line)}`);
    };
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a comment
      if (!NAME.test(m[2]!)) fail('has a bad metric name');
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!)) fail('has an unknown type');
        if (types.has(m[2]!)) fail('repeats a TYPE');
        types.set(m[2]!, m[3]!);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) return fail('is not a sample');
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    let pos = 0;
    while (pos < body.length) {
      LABEL.lastIndex = pos;
      const l = LABEL.exec(body);
      if (!l || l.index !== pos) fail('has malformed labels');
      labels[l![1]!] = l![2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      pos = LABEL.lastIndex;
    }
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? NaN : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') fail('has a bad value');
    const base = m[1]!.replace(/_(bucket|sum|count|total|created)$/, '');
    if (!types.has(m[1]!) && !types.has(base)) fail('has no TYPE line');
    samples.push({ name: m[1]!, labels, value });
  });
  return { types, samples };
}

/** Sum of the samples of a metric whose labels include `match`. */
export function sum(e: Exposition, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of e.samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

export interface SeenRequest {
  readonly upstream: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly headers: Record<string, string>;
}

/** Every request every sandbox upstream recorded since its last reset. */
export function seen(sandbox: Sandbox): SeenRequest[] {
  return Object.values(sandbox.upstreams).flatMap((u) =>
    u.stats().requests.map((r) => ({ upstream: u.name, method: r.method, path: r.path, status: r.status, headers: r.headers as Record<string, string> })),
  );
}

/** Count occurrences of each string. */
export function multiset(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of [...xs].sort()) out[x] = (out[x] ?? 0) + 1;
  return out;
}
