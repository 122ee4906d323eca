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
  Kind,
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
  TypeInfo,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { Connector, Telemetry, withPolicy, type UpstreamDef } from '../connector/index.js';

/** Per-attempt timeout of the probe's upstream calls (a loaded machine must not change the map). */
const PROBE_TIMEOUT_MS = 10_000;
import { credentialOf, endpointRoute, type CredentialInfo } from './route.js';
import { probeWorkflows, writesOf, type PerimeterWrite, type ProbedWorkflow } from './writes.js';

/** A client of the gateway, as the perimeter needs to know it. */
export interface PerimeterClient {
  readonly name: string;
  /** Whether it may read `@pii` fields. */
  readonly pii: boolean;
  /** Limited to persisted (trusted) operations: it reaches only the fields those operations use. */
  readonly persistedOnly?: boolean;
  /** Whether it may send mutations (the `write` permission). */
  readonly write?: boolean;
}

export interface PerimeterEndpoint {
  /** `upstream.endpoint`, e.g. `pricing.pricesBySku`. */
  readonly id: string;
  readonly upstream: string;
  readonly endpoint: string;
  readonly method: string;
  readonly path: string;
  readonly credential: CredentialInfo;
}

export interface PerimeterField {
  /** Schema coordinate, `Product.price`. */
  readonly coordinate: string;
  readonly kind: 'output' | 'input';
  /** The field's type as written in the schema. */
  readonly type: string;
  readonly pii: boolean;
  /** Endpoint ids the field reaches (sorted). */
  readonly endpoints: string[];
  /** `resolver`: its resolver loads them; `parent`: its parent object came from them; `none`: no upstream. */
  readonly via: 'resolver' | 'parent' | 'none';
  /** Whether the probe executed this field (false: its endpoints are unknown, listed as such). */
  readonly probed: boolean;
  /** Client operations (persisted documents) that select it. */
  readonly operations: string[];
  /** Clients that may reach it. */
  readonly clients: string[];
}

export interface PerimeterMap {
  readonly fields: PerimeterField[];
  /** Every field that runs a workflow: the endpoints it writes to, and who may call it. */
  readonly writes: PerimeterWrite[];
  readonly endpoints: PerimeterEndpoint[];
  readonly clients: PerimeterClient[];
  readonly summary: {
    readonly fields: number;
    readonly probed: number;
    readonly pii: number;
    readonly rounds: number;
    /** Upstream calls the probe made; `unattributed` counts calls no field's load explains (0 expected). */
    readonly upstreamCalls: number;
    /** Of those, calls to no declared endpoint (an OAuth2 token request). */
    readonly credentialCalls: number;
    readonly unattributed: number;
    /** Declared endpoints no probed field reached (a code path the probe's selections did not take). */
    readonly unreachedEndpoints: string[];
  };
}

export interface DeriveOptions {
  /** A fresh executable schema (its resolvers are wrapped in place). */
  readonly schema: GraphQLSchema;
  readonly upstreams: readonly UpstreamDef[];
  /** Base URL per upstream name: the sandbox's, never production. */
  readonly baseUrls: Readonly<Record<string, string>>;
  readonly env?: NodeJS.ProcessEnv;
  /** Builds the resolvers' context from the engine's (adds `upstreams` typed clients, given here). */
  readonly contextKey?: string;
  /** The signed-in user the probe runs as (for fields that need one). */
  readonly user?: { readonly id: string } | null;
  /** Values for required arguments no answer provides, by argument or input field name. */
  readonly inputs?: Readonly<Record<string, unknown>>;
  /** Client operations (persisted documents) by name. */
  readonly operations?: ReadonlyMap<string, string>;
  readonly clients?: readonly PerimeterClient[];
  /** Directive names that mark personal data (default `pii`). */
  readonly piiDirective?: string;
  /** Most probe rounds (default 4). */
  readonly maxRounds?: number;
  /** The orchestrated writes resolvers may run (`ctx.workflows.run(name)`): what each calls and writes to. */
  readonly workflows?: readonly ProbedWorkflow[];
}

interface FieldRecord {
  probed: boolean;
  own: Set<string>;
  /** Coordinates of the fields that produced this field's parent objects. */
  parents: Set<string>;
  /** Loads of the field run alone. */
  isolated: Set<string>;
  /** Workflows its resolver ran (a mutation). */
  workflows: Set<string>;
}

interface Store {
  readonly loads: Set<string>;
  /** Workflows the field's resolver ran. */
  readonly workflows?: Set<string>;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function';

function hasDirective(node: { directives?: readonly { name: { value: string } }[] } | null | undefined, name: string): boolean {
  return Boolean(node?.directives?.some((d) => d.name.value === name));
}

/** A field no schema can define (names starting with `__` are reserved for introspection). */
const UNKNOWN_FIELD: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__perimeterUnknownField' } };

/** The same node with {@link UNKNOWN_FIELD} added to every selection set in it. */
function withUnknownField<T extends ASTNode>(node: T): T {
  return visit(node, {
    SelectionSet: { leave: (set: SelectionSetNode): SelectionSetNode => ({ ...set, selections: [...set.selections, UNKNOWN_FIELD] }) },
  }) as T;
}

/**
 * A resolver's `info` whose selections (and fragments) each hold a field no resolver can know: a
 * resolver that optimises for its selection (select pushdown) then takes its general path. Only what
 * the resolver is given changes; execution still follows the real document. Memoised per field group.
 */
function unfamiliarInfo(info: GraphQLResolveInfo, memo: WeakMap<object, Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>>): GraphQLResolveInfo {
  let changed = memo.get(info.fieldNodes);
  if (!changed) {
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const [name, f] of Object.entries(info.fragments)) fragments[name] = withUnknownField(f);
    changed = { fieldNodes: info.fieldNodes.map(withUnknownField), fragments };
    memo.set(info.fieldNodes, changed);
  }
  return { ...info, ...changed };
}

/** Output and input object types of a schema, without introspection types. */
function userTypes(schema: GraphQLSchema): GraphQLNamedType[] {
  return Object.values(schema.getTypeMap()).filter((t) => !t.name.startsWith('__'));
}

/** Every `Type.field` an operation document selects. */
function operationUsage(schema: GraphQLSchema, operations: ReadonlyMap<string, string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [name, text] of operations) {
    const info = new TypeInfo(schema);
    visit(
      parse(text),
      visitWithTypeInfo(info, {
        Field(node) {
          const parent = info.getParentType();
          if (!parent || node.name.value.startsWith('__')) return;
          const c = `${parent.name}.${node.name.value}`;
          if (!out.has(c)) out.set(c, new Set());
          out.get(c)!.add(name);
        },
      }),
    );
  }
  return out;
}

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
