/** The perimeter map's vocabulary: clients, endpoints, fields, the map, and the probe's options. */
import type { GraphQLSchema } from 'graphql';
import type { UpstreamDef } from '../connector/index.js';
import type { CredentialInfo } from './route.js';
import type { PerimeterWrite, ProbedWorkflow } from './writes.js';

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

/** @internal What the probe learnt of one field. */
export interface FieldRecord {
  probed: boolean;
  own: Set<string>;
  /** Coordinates of the fields that produced this field's parent objects. */
  parents: Set<string>;
  /** Loads of the field run alone. */
  isolated: Set<string>;
  /** Workflows its resolver ran (a mutation). */
  workflows: Set<string>;
}

/** @internal What a resolving field records (AsyncLocalStorage). */
export interface Store {
  readonly loads: Set<string>;
  /** Workflows the field's resolver ran. */
  readonly workflows?: Set<string>;
}
