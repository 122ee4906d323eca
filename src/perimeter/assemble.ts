/**
 * @internal The perimeter map assembled from what the probe recorded: endpoints with their routes
 * and credentials, each field's endpoints (its own loads, or its parents' producers), clients, writes
 * and the summary.
 */
import {
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  type GraphQLSchema,
} from 'graphql';
import { credentialOf, endpointRoute } from './route.js';
import { hasDirective, operationUsage, userTypes } from './probe-support.js';
import type { DeriveOptions, FieldRecord, PerimeterEndpoint, PerimeterField, PerimeterMap } from './types.js';
import { writesOf } from './writes.js';

export function assembleMap(schema: GraphQLSchema, opts: DeriveOptions, records: Map<string, FieldRecord>, attempted: ReadonlyMap<string, number>, rounds: number, pii: string): PerimeterMap {
  // Endpoints, with routes and credentials, from the definitions.
  const endpoints: PerimeterEndpoint[] = opts.upstreams.flatMap((def) =>
    Object.entries(def.endpoints).map(([name, ep]) => {
      const route = endpointRoute(ep);
      return { id: `${def.name}.${name}`, upstream: def.name, endpoint: name, method: route?.method ?? ep.method, path: route?.path ?? '?', credential: credentialOf(def) };
    }),
  );

  // A field reaches what its resolver loads (run with the others, or alone); a field that loads
  // nothing reaches what the fields that produced its parent objects reach, transitively.
  const ownOf = (c: string) => new Set([...(records.get(c)?.own ?? []), ...(records.get(c)?.isolated ?? [])]);
  const effective = (c: string, seen = new Set<string>()): Set<string> => {
    const own = ownOf(c);
    if (own.size || seen.has(c)) return own;
    seen.add(c);
    const out = new Set<string>();
    for (const p of records.get(c)?.parents ?? []) for (const e of effective(p, seen)) out.add(e);
    return out;
  };

  // An interface's field has no resolver of its own: it is its implementations' fields together.
  for (const type of userTypes(schema)) {
    if (!isInterfaceType(type)) continue;
    for (const name of Object.keys(type.getFields())) {
      const impls = schema.getPossibleTypes(type).map((t) => records.get(`${t.name}.${name}`));
      records.set(`${type.name}.${name}`, {
        probed: impls.length > 0 && impls.every((r) => r?.probed),
        own: new Set(impls.flatMap((r) => [...(r?.own ?? [])])),
        parents: new Set(impls.flatMap((r) => [...(r?.parents ?? [])])),
        isolated: new Set(impls.flatMap((r) => [...(r?.isolated ?? [])])),
        workflows: new Set(),
      });
    }
  }
  const usage = operationUsage(schema, opts.operations ?? new Map());
  const clients = [...(opts.clients ?? [])];
  const fields: PerimeterField[] = [];
  for (const type of userTypes(schema).sort((a, b) => a.name.localeCompare(b.name))) {
    if (isObjectType(type) || isInterfaceType(type)) {
      const typePii = hasDirective(type.astNode, pii) || Boolean(type.extensionASTNodes?.some((n) => hasDirective(n, pii)));
      for (const f of Object.values(type.getFields()).sort((a, b) => a.name.localeCompare(b.name))) {
        const coordinate = `${type.name}.${f.name}`;
        const rec = records.get(coordinate);
        const own = [...ownOf(coordinate)].sort();
        const inherited = own.length ? [] : [...effective(coordinate)].sort();
        const isPii = typePii || hasDirective(f.astNode, pii);
        const ops = [...(usage.get(coordinate) ?? [])].sort();
        fields.push({
          coordinate,
          kind: 'output',
          type: String(f.type),
          pii: isPii,
          endpoints: own.length ? own : inherited,
          via: own.length ? 'resolver' : inherited.length ? 'parent' : 'none',
          probed: Boolean(rec?.probed),
          operations: ops,
          clients: clients.filter((c) => (!isPii || c.pii) && (!c.persistedOnly || ops.length > 0) && (type !== schema.getMutationType() || c.write === true)).map((c) => c.name),
        });
      }
    } else if (isInputObjectType(type)) {
      for (const f of Object.values(type.getFields()).sort((a, b) => a.name.localeCompare(b.name))) {
        fields.push({ coordinate: `${type.name}.${f.name}`, kind: 'input', type: String(f.type), pii: hasDirective(f.astNode, pii), endpoints: [], via: 'none', probed: true, operations: [], clients: clients.map((c) => c.name) });
      }
    }
  }

  const explained = new Set(fields.flatMap((f) => f.endpoints));
  let calls = 0;
  let unattributed = 0;
  // Calls to no declared endpoint: credential traffic such as an OAuth2 token request.
  let auxiliary = 0;
  const declared = new Set(endpoints.map((e) => e.id));
  for (const [id, n] of attempted) {
    calls += n;
    if (!declared.has(id)) auxiliary += n;
    else if (!explained.has(id)) unattributed += n;
  }
  return {
    fields,
    endpoints,
    clients,
    writes: writesOf(records, fields, opts.workflows ?? []),
    summary: {
      fields: fields.length,
      probed: fields.filter((f) => f.probed).length,
      pii: fields.filter((f) => f.pii).length,
      rounds,
      upstreamCalls: calls,
      credentialCalls: auxiliary,
      unattributed,
      unreachedEndpoints: endpoints.filter((e) => !explained.has(e.id)).map((e) => e.id),
    },
  };
}
