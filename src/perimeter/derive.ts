/**
 * The perimeter map, derived by running the code: every resolver of an executable schema is wrapped
 * so that an AsyncLocalStorage knows which field is resolving, and the typed upstream clients record
 * which endpoint each field's resolver loads. A query selecting every field (built from the schema,
 * with argument values harvested from earlier answers or given as probe inputs) is executed against
 * the given upstreams (the sandbox). A field whose resolver loads nothing (a default resolver, or one
 * that only reshapes its parent) reaches what produced its parent object. The probe is then run once
 * more with a field no resolver can know added to every selection, so a resolver that reads its
 * selection to optimise (select pushdown) also takes the path it falls back to, and that path is
 * mapped too.
 *
 * The engine knows no domain: schema, resolvers, upstream definitions and inputs are given.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import {
  astFromValue,
  defaultFieldResolver,
  execute,
  getNamedType,
  getNullableType,
  isAbstractType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  print,
  typeFromAST,
  visit,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
} from 'graphql';
import { Connector, Telemetry, withPolicy, } from '../connector/index.js';

/** Per-attempt timeout of the probe's upstream calls (a loaded machine must not change the map). */
const PROBE_TIMEOUT_MS = 10_000;
import { assembleMap } from './assemble.js';
import { isThenable, unfamiliarInfo, userTypes, } from './probe-support.js';
import type { DeriveOptions, FieldRecord, PerimeterMap, Store } from './types.js';
import { probeWorkflows } from './writes.js';

export type { DeriveOptions, PerimeterClient, PerimeterEndpoint, PerimeterField, PerimeterMap } from './types.js';

/** Derives the perimeter map. Starts its own connector (cache off) on `baseUrls`, and closes it. */
export async function derivePerimeter(opts: DeriveOptions): Promise<PerimeterMap> {
  const { schema } = opts;
  const pii = opts.piiDirective ?? 'pii';
  const als = new AsyncLocalStorage<Store>();
  const records = new Map<string, FieldRecord>();
  const producers = new WeakMap<object, Set<string>>();
  let isolating: (Store & { readonly coordinate: string }) | undefined;
  /** While set, resolvers are given selections they cannot optimise for (see {@link unfamiliarInfo}). */
  let generalPaths: WeakMap<object, Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>> | undefined;

  /** Remembers which field produced an object (and the objects of a list), for its children. */
  const tag = (value: unknown, coordinate: string, depth = 0): void => {
    if (value === null || typeof value !== 'object' || depth > 2) return;
    if (Array.isArray(value)) {
      for (const v of value) tag(v, coordinate, depth + 1);
      return;
    }
    const had = producers.get(value);
    if (had) had.add(coordinate);
    else producers.set(value, new Set([coordinate]));
  };

  // Wrap every resolver: the field's coordinate is known while it resolves.
  for (const type of userTypes(schema)) {
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields()) as GraphQLField<unknown, unknown>[]) {
      const coordinate = `${type.name}.${field.name}`;
      const rec: FieldRecord = { probed: false, own: new Set(), parents: new Set(), isolated: new Set(), workflows: new Set() };
      records.set(coordinate, rec);
      const original = field.resolve ?? defaultFieldResolver;
      field.resolve = (parent, args, ctx, info) => {
        if (isolating) {
          if (isolating.coordinate !== coordinate) return original(parent, args, ctx, info);
          return als.run(isolating, () => original(parent, args, ctx, info));
        }
        rec.probed = true;
        const store: Store = { loads: new Set(), workflows: new Set() };
        const from = parent !== null && typeof parent === 'object' ? producers.get(parent) : undefined;
        if (from) for (const c of from) rec.parents.add(c);
        const finish = (value: unknown) => {
          for (const l of store.loads) rec.own.add(l);
          for (const w of store.workflows ?? []) rec.workflows.add(w);
          tag(value, coordinate);
          return value;
        };
        const given = generalPaths ? unfamiliarInfo(info, generalPaths) : info;
        const result = als.run(store, () => original(parent, args, ctx, given));
        if (isThenable(result)) return Promise.resolve(result).then(finish);
        if (Array.isArray(result) && result.some(isThenable)) {
          return result.map((r) => (isThenable(r) ? Promise.resolve(r).then(finish) : r));
        }
        return finish(result);
      };
    }
  }

  // The connector the probe runs on: the given upstreams, cache off, attempts counted.
  const telemetry = new Telemetry();
  // Generous timeouts and no breakers or hedges: the probe is about which calls happen, not how fast.
  const connector = new Connector({
    upstreams: opts.upstreams.map((def) => withPolicy(def, { timeoutMs: PROBE_TIMEOUT_MS })),
    env: opts.env ?? {},
    baseUrls: opts.baseUrls,
    sandboxMode: true,
    cache: null,
    telemetry,
    switches: { hedging: false, breakers: false },
  });
  const attempted = new Map<string, number>();
  telemetry.on('attempt', (e) => attempted.set(`${e.upstream}.${e.endpoint}`, (attempted.get(`${e.upstream}.${e.endpoint}`) ?? 0) + 1));

  /**
   * The typed clients, recording each endpoint a resolver loads from. Only `load` and `loadMany` can
   * reach the upstream; `prime` and `clear` touch the request's loader alone and are not recorded.
   */
  const recordingClients = (clients: Record<string, object>): Record<string, object> =>
    new Proxy(clients, {
      get(target, upstream: string) {
        const client = target[upstream];
        if (!client || typeof upstream !== 'string') return client;
        return new Proxy(client, {
          get(c, endpoint) {
            const loader = Reflect.get(c, endpoint, c) as unknown;
            if (typeof endpoint !== 'string' || !loader || typeof loader !== 'object') return loader;
            const id = `${upstream}.${endpoint}`;
            return new Proxy(loader, {
              get(l, method) {
                const v = Reflect.get(l, method, l) as unknown;
                if (typeof v !== 'function') return v;
                return (...args: unknown[]) => {
                  if (method === 'load' || method === 'loadMany') als.getStore()?.loads.add(id);
                  return (v as (...a: unknown[]) => unknown).apply(l, args);
                };
              },
            });
          },
        });
      },
    });

  // Values harvested from answers, by `Type.field` and by field name.
  const harvested = new Map<string, unknown[]>();
  const remember = (key: string, v: unknown) => {
    const list = harvested.get(key) ?? [];
    if (list.length < 5 && !list.includes(v)) list.push(v);
    harvested.set(key, list);
  };
  const harvest = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(harvest);
    if (value === null || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    const typename = typeof o.__typename === 'string' ? o.__typename : undefined;
    for (const [k, v] of Object.entries(o)) {
      if (k === '__typename') continue;
      if (v !== null && typeof v !== 'object') {
        remember(k, v);
        if (typename) remember(`${typename}.${k}`, v);
      } else harvest(v);
    }
  };

  const inputs = opts.inputs ?? {};
  const MISSING = Symbol('missing');
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

  /** A value for a required input of `type` named `name`, on a field returning `owner`. */
  const valueFor = (type: GraphQLInputType, name: string, owner: string | undefined): unknown => {
    const t = getNullableType(type) as GraphQLInputType;
    if (isListType(t)) {
      const v = valueFor(t.ofType, name, owner);
      return v === MISSING ? MISSING : [v];
    }
    if (isInputObjectType(t)) {
      const out: Record<string, unknown> = {};
      for (const f of Object.values(t.getFields())) {
        if (!isNonNullType(f.type) || f.defaultValue !== undefined) continue;
        const v = valueFor(f.type, f.name, undefined);
        if (v === MISSING) return MISSING;
        out[f.name] = v;
      }
      return out;
    }
    if (isEnumType(t)) return t.getValues()[0]?.value ?? MISSING;
    if (name in inputs) return inputs[name];
    const candidates = [
      owner ? harvested.get(`${owner}.${name}`) : undefined,
      name.endsWith('Id') ? harvested.get(`${cap(name.slice(0, -2))}.id`) : undefined,
      t.name === 'String' || t.name === 'ID' ? harvested.get(name) : undefined,
    ];
    for (const c of candidates) if (c?.length) return t.name === 'ID' || t.name === 'String' ? String(c[0]) : c[0];
    if (t.name === 'Int' || t.name === 'Float') return 1;
    if (t.name === 'Boolean') return true;
    return MISSING;
  };

  /** `(a: <literal>, ...)` for the required arguments, or undefined when one cannot be filled. */
  const argsFor = (field: GraphQLField<unknown, unknown>): string | undefined => {
    const parts: string[] = [];
    const owner = getNamedType(field.type).name;
    for (const a of field.args as readonly GraphQLArgument[]) {
      if (!isNonNullType(a.type) || a.defaultValue !== undefined) continue;
      const v = valueFor(a.type, a.name, owner);
      const ast = v === MISSING ? null : astFromValue(v, a.type);
      if (!ast) return undefined;
      parts.push(`${a.name}: ${print(ast)}`);
    }
    return parts.length ? `(${parts.join(', ')})` : '';
  };

  const unprobed = (t: GraphQLNamedType) =>
    (isObjectType(t) || isInterfaceType(t)) && Object.keys(t.getFields()).some((f) => !records.get(`${t.name}.${f}`)?.probed);

  /** The first path (root field first) by which each coordinate is selected: for isolated runs. */
  const paths = new Map<string, string[]>();

  /** The leaf fields of a type that need no argument value. */
  const leaves = (type: GraphQLObjectType, path: readonly string[]): string =>
    (Object.values(type.getFields()) as GraphQLField<unknown, unknown>[])
      .filter((f) => isLeafType(getNamedType(f.type)) && f.args.every((a) => !isNonNullType(a.type) || a.defaultValue !== undefined))
      .map((f) => {
        const c = `${type.name}.${f.name}`;
        if (path.length && (paths.get(c)?.length ?? Infinity) > path.length + 1) paths.set(c, [...path, f.name]);
        return f.name;
      })
      .join(' ');

  /** The selection set of a type: every field, composite ones expanded once per query. */
  const selection = (type: GraphQLObjectType, expanded: Set<string>, path: readonly string[] = []): string => {
    const parts = ['__typename'];
    for (const field of Object.values(type.getFields()) as GraphQLField<unknown, unknown>[]) {
      const args = argsFor(field);
      if (args === undefined) continue;
      const named = getNamedType(field.type);
      const here = [...path, `${field.name}${args}`];
      const coordinate = `${type.name}.${field.name}`;
      // The shortest path wins (fewer upstream calls when the field is run alone).
      if ((path.length > 0 || type === schema.getQueryType()) && (paths.get(coordinate)?.length ?? Infinity) > here.length) paths.set(coordinate, here);
      if (isLeafType(named)) parts.push(`${field.name}${args}`);
      else if (isCompositeType(named)) {
        const targets = isAbstractType(named) ? schema.getPossibleTypes(named) : [named as GraphQLObjectType];
        const inner: string[] = ['__typename'];
        for (const target of targets) {
          let sel: string;
          if (expanded.has(target.name) || !unprobed(target)) {
            // Expanded elsewhere: its leaves only, so fields that read their parent see every producer.
            sel = leaves(target, isAbstractType(named) ? [] : here);
          } else {
            expanded.add(target.name);
            // Fields under an abstract type are probed, but not run alone (no path is kept for them).
            sel = selection(target, expanded, isAbstractType(named) ? [] : here);
          }
          if (sel) inner.push(isAbstractType(named) ? `... on ${target.name} { ${sel} }` : sel);
        }
        parts.push(`${field.name}${args} { ${inner.join(' ')} }`);
      }
    }
    return parts.join(' ');
  };

  const run = (text: string, variableValues: Record<string, unknown> = {}) => {
    const user = opts.user ?? null;
    const scope = connector.scope({ requestId: randomUUID(), user, deadline: performance.now() + 30_000 });
    const contextValue = {
      requestId: scope.requestId,
      user,
      scope,
      [opts.contextKey ?? 'upstreams']: recordingClients(connector.clientsFor(scope) as Record<string, object>),
      workflows: probeWorkflows(opts.workflows ?? [], () => als.getStore()),
    };
    return execute({ schema, document: parse(text), variableValues, contextValue });
  };

  const query = schema.getQueryType();
  let rounds = 0;
  /** Each round's probe query, run again for general paths. */
  const bodies: string[] = [];
  try {
    for (let round = 0; query && round < (opts.maxRounds ?? 4); round++) {
      const before = [...records.values()].filter((r) => r.probed).length;
      const body = selection(query, new Set([query.name]));
      bodies.push(body);
      const result = await run(`query PerimeterProbe { ${body} }`);
      rounds++;
      harvest(result.data);
      const after = [...records.values()].filter((r) => r.probed).length;
      if (after === before || after === records.size) break;
    }
    // Mutations once: their workflows are recorded, not run (the probe writes nothing), and what they
    // read before (a quote, say) is run and mapped like any field.
    const mutation = schema.getMutationType();
    if (mutation) harvest((await run(`mutation PerimeterProbe { ${selection(mutation, new Set([mutation.name]))} }`)).data);
    // The client operations too, as clients send them (their selections may take other code paths).
    for (const [, text] of opts.operations ?? []) {
      const doc = parse(text);
      const vars: Record<string, unknown> = {};
      let complete = true;
      visit(doc, {
        VariableDefinition(node) {
          const type = typeFromAST(schema, node.type) as GraphQLInputType | undefined;
          if (!type || node.defaultValue || !isNonNullType(type)) return;
          const v = valueFor(type, node.variable.name.value, undefined);
          if (v === MISSING) complete = false;
          else vars[node.variable.name.value] = v;
        },
      });
      if (complete) harvest((await run(text, vars)).data);
    }
    // General paths: every probe query once more, each resolver given a selection it cannot optimise
    // for, so a fallback that only an unmapped field triggers today (a full fetch instead of select
    // pushdown) is a route on the map, as it is at runtime.
    generalPaths = new WeakMap();
    try {
      for (const body of bodies) await run(`query PerimeterGeneralPaths { ${body} }`);
    } finally {
      generalPaths = undefined;
    }
    // Isolated runs: each field alone on its path (its ancestors select only __typename), so loads it
    // shares with sibling fields (memoised work, DataLoader hits) are attributed to it as well.
    for (const [coordinate, path] of paths) {
      const rec = records.get(coordinate);
      if (!rec?.probed) continue;
      const [typeName, fieldName] = coordinate.split('.') as [string, string];
      const fieldType = (schema.getType(typeName) as GraphQLObjectType).getFields()[fieldName]!.type;
      const last = isLeafType(getNamedType(fieldType)) ? path.at(-1)! : `${path.at(-1)} { __typename }`;
      const text = path.slice(0, -1).reduceRight((inner, step) => `${step} { __typename ${inner} }`, last);
      // An upstream failure can cut a resolver short before it loads what it needs: run again (twice at most).
      for (let attempt = 0; attempt < 3; attempt++) {
        isolating = { coordinate, loads: new Set() };
        const result = await run(`query PerimeterIsolated { ${text} }`);
        for (const l of isolating.loads) rec.isolated.add(l);
        isolating = undefined;
        const upstreamFailed = result.errors?.some((e) => String((e.originalError as { code?: unknown } | undefined)?.code ?? e.extensions?.code ?? '').startsWith('UPSTREAM_'));
        if (!upstreamFailed) break;
      }
    }
  } finally {
    await connector.close();
  }

  return assembleMap(schema, opts, records, attempted, rounds, pii);
}
