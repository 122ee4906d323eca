/** The perimeter map in Markdown, for a pull request or an audit. */
import type { PerimeterMap } from './derive.js';

const esc = (s: string) => s.replace(/\|/g, '\\|');

export function perimeterMarkdown(map: PerimeterMap): string {
  const byId = new Map(map.endpoints.map((e) => [e.id, e]));
  const cred = (id: string) => {
    const e = byId.get(id);
    if (!e) return '?';
    const c = e.credential;
    return c.scheme === 'none' ? 'none' : `${c.scheme}${c.header ? ` (${c.header})` : ''}: ${c.env.map((n) => `\`${n}\``).join(', ')}`;
  };
  const s = map.summary;
  const lines = [
    '## Perimeter map',
    '',
    `${s.fields} schema fields (${s.probed} probed, ${s.pii} \`@pii\`); ${map.endpoints.length} upstream endpoints; ${map.clients.length} clients. ` +
      `Derived by running every field against the sandbox: ${s.upstreamCalls} upstream calls (${s.credentialCalls} for credentials), ${s.unattributed} not explained by a field.` +
      (s.unreachedEndpoints.length ? ` Not reached by the probe: ${s.unreachedEndpoints.map((e) => `\`${e}\``).join(', ')}.` : ''),
    '',
    '### Upstream endpoints and credentials',
    '',
    '| endpoint | route | credential (scheme: variables) | reached by fields |',
    '| --- | --- | --- | --- |',
  ];
  for (const e of map.endpoints) {
    const n = map.fields.filter((f) => f.endpoints.includes(e.id)).length;
    lines.push(`| \`${e.id}\` | \`${e.method} ${e.path}\` | ${cred(e.id)} | ${n} |`);
  }
  lines.push('', writesMarkdown(map).trimEnd());
  lines.push('', '### Fields', '', '| field | type | @pii | upstream endpoints | via | credentials | clients |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const f of map.fields) {
    const eps = f.endpoints.length ? f.endpoints.map((e) => `\`${e}\``).join(', ') : f.probed ? '-' : '(not probed)';
    const creds = [...new Set(f.endpoints.map(cred))].join('; ') || '-';
    const who = map.clients.length ? f.clients.join(', ') || 'none' : 'any caller';
    lines.push(`| \`${f.coordinate}\`${f.kind === 'input' ? ' (input)' : ''} | \`${esc(f.type)}\` | ${f.pii ? '**pii**' : ''} | ${eps} | ${f.via} | ${esc(creds)} | ${who} |`);
  }
  if (!map.clients.length) lines.push('', 'No API clients are configured (`CLIENTS`, `CLIENTS_FILE`): any caller may reach every field.');
  else {
    lines.push('', '### Clients', '', '| client | may read @pii | persisted operations only |', '| --- | --- | --- |');
    for (const c of map.clients) lines.push(`| ${c.name} | ${c.pii ? 'yes' : 'no'} | ${c.persistedOnly ? 'yes' : 'no'} |`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Who can write where: one row per field that runs a workflow, with every endpoint it writes to
 * (and the credential), the endpoints it only reads, and the clients allowed to call it. With
 * `upstream`, only the rows that write to it ("which services can write to the orders database").
 */
export function writesMarkdown(map: PerimeterMap, upstream?: string): string {
  const byId = new Map(map.endpoints.map((e) => [e.id, e]));
  const rows = map.writes.filter((w) => !upstream || w.writes.some((id) => byId.get(id)?.upstream === upstream));
  const lines = [upstream ? `### Writes to ${upstream}` : '### Writes', ''];
  if (!rows.length) return `${[...lines, upstream ? `Nothing writes to ${upstream}.` : 'No field writes.'].join('\n')}\n`;
  lines.push('| field | workflow | writes to (route; credential) | reads | clients |', '| --- | --- | --- | --- | --- |');
  for (const w of rows) {
    const writes = w.writes
      .filter((id) => !upstream || byId.get(id)?.upstream === upstream)
      .map((id) => {
        const e = byId.get(id);
        return e ? `\`${id}\` (\`${e.method} ${e.path}\`; ${e.credential.env.map((n) => `\`${n}\``).join(', ') || 'none'})` : `\`${id}\``;
      });
    const who = map.clients.length ? w.clients.join(', ') || 'none' : 'any signed-in user';
    lines.push(`| \`${w.field}\` | ${w.workflow} | ${writes.join('<br>')} | ${w.reads.map((r) => `\`${r}\``).join(', ') || '-'} | ${who} |`);
  }
  return `${lines.join('\n')}\n`;
}
