/**
 * The sections of the schema review that come from more than the two schemas: owners of the modules
 * a change touches, deprecated coordinates with their usage, and the nullability review.
 */
import type { ModuleOwner } from './owners.js';
import type { FailureEffect, NullabilityFinding } from './nullability.js';
import { usageText, type ChangeUsage } from './usage.js';

/** What the renderer needs of a review (the script's `SchemaReview`). */
export interface ReviewExtras {
  readonly changes: readonly { readonly coordinate: string; readonly level: string; readonly owner?: ModuleOwner | undefined }[];
  readonly deprecations: readonly { readonly coordinate: string; readonly reason: string; readonly usedBy: readonly string[]; readonly usage?: ChangeUsage | undefined }[];
  readonly usage?: { readonly days: number } | undefined;
  readonly nullability?: { readonly changedFields: readonly FailureEffect[]; readonly findings: readonly (NullabilityFinding & { readonly introduced: boolean })[] } | undefined;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** What a failure does, in words: `null here`, `null propagates to Query.category (…)`, `fallback value`. */
export function effectText(e: FailureEffect): string {
  const stale = e.staleFirst ? 'the last cached value (stale), else ' : '';
  if (e.effect === 'fallback') return 'the declared fallback value (no error)';
  if (e.effect === 'null-here') return `${stale}null here (an error names the upstream)`;
  return `${stale}null, which propagates (non-null) to ${e.wipes.map((w) => `${w.nulls} (\`${w.path}\`)`).join('; ')}`;
}

const policyText = (e: FailureEffect) => e.sources.map((s) => `${s.endpoint} (${s.onError})`).join(', ');

/** Markdown lines (each section starts with a blank line); none when there is nothing to show. */
export function renderExtras(r: ReviewExtras): string[] {
  const lines: string[] = [];
  const byOwner = new Map<string, Set<string>>();
  for (const c of r.changes) {
    if (!c.owner) continue;
    const k = `${c.owner.owner ?? '(no owner)'} (\`${c.owner.module}\`)`;
    if (!byOwner.has(k)) byOwner.set(k, new Set());
    byOwner.get(k)!.add(`\`${c.coordinate}\``);
  }
  if (byOwner.size) {
    lines.push('', '### Owners to review', '');
    for (const [k, cs] of [...byOwner].sort()) lines.push(`- ${k}: ${[...cs].join(', ')}`);
  }
  if (r.deprecations.length) {
    const withUsage = r.usage !== undefined;
    lines.push('', '### Deprecated', '', `| coordinate | reason | used by operations |${withUsage ? ` usage (${r.usage!.days} days) |` : ''}`, `| --- | --- | --- |${withUsage ? ' --- |' : ''}`);
    for (const d of r.deprecations) {
      const cells = [`\`${d.coordinate}\``, d.reason, d.usedBy.join(', ') || '-', ...(withUsage ? [d.usage ? usageText(d.usage) : '-'] : [])];
      lines.push(`| ${cells.map(cell).join(' | ')} |`);
    }
  }
  const n = r.nullability;
  if (n?.changedFields.length) {
    lines.push('', '### Upstream failures of changed fields', '', '| field | loads from (onError) | when that upstream fails |', '| --- | --- | --- |');
    for (const e of n.changedFields) lines.push(`| ${[`\`${e.coordinate}\``, policyText(e), effectText(e)].map(cell).join(' | ')} |`);
  }
  if (n?.findings.length) {
    const introduced = n.findings.filter((f) => f.introduced);
    lines.push('', '### Nullability: upstream failures that wipe a parent', '');
    if (introduced.length) lines.push(`**${introduced.length} introduced by this change** (they fail the check):`, '');
    lines.push('| path | upstream | null lands on | what to do | new |', '| --- | --- | --- | --- | --- |');
    for (const f of [...introduced, ...n.findings.filter((x) => !x.introduced)]) {
      lines.push(`| ${[`\`${f.path}\``, f.upstreams.join(', '), f.nulls, f.advice, f.introduced ? '**yes**' : 'no'].map(cell).join(' | ')} |`);
    }
  }
  return lines;
}
