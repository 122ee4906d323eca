/**
 * The deployment files (Dockerfile, deploy/compose/, deploy/kubernetes/), tested as far as this
 * machine allows (no container runtime, no Kubernetes API server): every manifest validates against
 * the Kubernetes schemas (kubernetes-models), the files agree with each other and with the upstream
 * definitions, every variable they name is documented in the README, and the image, assembled stage
 * by stage from the Dockerfile's own instructions (`npm run build`, `npm ci --omit=dev`), starts with its
 * CMD in production mode against the compose file's sandbox command and credential files, answers
 * its HEALTHCHECK, `/healthz`, `/readyz` and a ProductPage, and exits 0 on SIGTERM.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { credentialOf } from '../src/perimeter/route.js';
import { upstreamList } from '../upstreams/index.js';
import { OPERATIONS } from './support/stack.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// The Dockerfile, read as a builder reads it: comments dropped, continuations joined, one
// instruction per line, grouped by stage.

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly name: string;
  readonly instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n\s*/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*\S)\s*$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stages.push({ name: /\sAS\s+(\S+)$/i.exec(m[2]!)?.[1] ?? String(stages.length), instructions: [] });
    stages.at(-1)?.instructions.push({ op, args: m[2]! });
  }
  return stages;
}

const stages = parseDockerfile(read('Dockerfile'));
const runtime = stages.at(-1)!;
const all = (op: string) => runtime.instructions.filter((i) => i.op === op);
const one = (op: string) => {
  const found = all(op);
  expect(found, `one ${op} in the runtime stage`).toHaveLength(1);
  return found[0]!.args;
};
/** `ENV A=b C=d` → { A: 'b', C: 'd' } over every ENV of the runtime stage. */
const imageEnv = (): Record<string, string> =>
  Object.fromEntries(all('ENV').flatMap((i) => [...i.args.matchAll(/([A-Z0-9_]+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')])));
const cmd = (): string[] => JSON.parse(one('CMD')) as string[];
/** The node command of `npm start` (package.json), as argv. */
const npmStart = (): string[] => (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!.split(/\s+/);

// ---------------------------------------------------------------------------------------------
// Manifests and compose.

const K8S_DIR = 'deploy/kubernetes';
const k8sFiles = readdirSync(join(ROOT, K8S_DIR)).filter((f) => f.endsWith('.yaml')).sort();
const k8sDocs = k8sFiles.flatMap((file) =>
  parseAllDocuments(read(`${K8S_DIR}/${file}`)).map((d) => {
    expect(d.errors, `${file} parses`).toEqual([]);
    return { file, doc: d.toJS() as { apiVersion: string; kind: string; metadata?: { name?: string }; [k: string]: any } };
  }),
);
const k8s = (kind: string) => {
  const found = k8sDocs.filter((d) => d.doc.kind === kind);
  expect(found.length, `a ${kind} manifest`).toBeGreaterThan(0);
  return found.map((d) => d.doc);
};
const configMap = () => k8s('ConfigMap')[0]!.data as Record<string, string>;
const deployment = () => k8s('Deployment')[0]!;
const container = () => deployment().spec.template.spec.containers[0];

const compose = parseYaml(read('deploy/compose/compose.yaml')) as { services: Record<string, any>; secrets: Record<string, { file: string }> };
/** KEY=value lines of an env file (comments and blank lines skipped). */
const envFile = (path: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => /^\s*[A-Z]/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]),
  );
const composeGatewayEnv = () => ({ ...envFile(join(ROOT, 'deploy/compose', compose.services.gateway.env_file)), ...compose.services.gateway.environment });

/** Every credential variable the upstream definitions declare (PRICING_TOKEN...). */
const credentialVariables = upstreamList.flatMap((d) => credentialOf(d).env);
const baseUrlVariables = upstreamList.map((d) => d.baseUrlEnv);

const milliseconds = (s: string) => {
  const m = /^(\d+)(ms|s|m)$/.exec(s);
  if (!m) throw new Error(`not a duration: ${s}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
};

describe('Dockerfile', () => {
  it('builds in one stage and runs production dependencies, as a non-root user, in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0]!;
    expect(build.instructions.some((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.args))).toBe(true);
    expect(all('RUN').some((i) => /\bnpm ci\b.*--omit=dev/.test(i.args))).toBe(true);
    expect(all('COPY').some((i) => i.args.startsWith(`--from=${build.name} `) && /\/dist\b/.test(i.args))).toBe(true);
    expect(imageEnv().NODE_ENV).toBe('production');
    const user = one('USER');
    expect(user).toMatch(/^\d+(:\d+)?$/); // numeric, so Kubernetes' runAsNonRoot can check it
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(one('EXPOSE')).toBe('4000');
  });

  it('starts with the node command of `npm start`, heap flags included, without its build step', () => {
    expect(npmStart()[0]).toBe('node');
    expect(cmd()).toEqual(npmStart());
    expect(all('ENTRYPOINT')).toEqual([]);
  });

  it('checks health on /healthz with node alone (no curl in the image)', () => {
    const hc = one('HEALTHCHECK');
    const argv = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    expect(argv[0]).toBe('node');
    expect(argv.join(' ')).toContain('/healthz');
  });

  it('copies into the image every runtime folder the gateway reads from the project root', () => {
    const copied = all('COPY').flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
    for (const path of ['package.json', 'package-lock.json', 'schema', 'operations', 'generated/persisted-operations.json', 'data']) {
      expect(copied, path).toContain(path);
    }
    // …and .dockerignore keeps every source either stage copies in the build context.
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const fromContext = stages.flatMap((st) => st.instructions.filter((i) => i.op === 'COPY' && !i.args.includes('--from=')).flatMap((i) => i.args.split(/\s+/).slice(0, -1)));
    for (const src of fromContext) expect(ignored.filter((pattern) => src === pattern || src.startsWith(`${pattern}/`)), src).toEqual([]);
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });
});

/** The kubernetes-models modules of the API groups the manifests use. */
const MODELS: Record<string, () => Promise<unknown>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'autoscaling/v2': () => import('kubernetes-models/autoscaling/v2'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
};

describe('Kubernetes manifests', () => {
  it('each validates against the Kubernetes schemas', async () => {
    const kinds: string[] = [];
    for (const { file, doc } of k8sDocs) {
      if (doc.apiVersion.startsWith('kustomize.config.k8s.io/')) continue;
      const models = (await MODELS[doc.apiVersion]?.()) as Record<string, new (d: unknown) => { validate(): void }> | undefined;
      expect(models, `${file}: a known apiVersion (${doc.apiVersion})`).toBeDefined();
      const Model = models![doc.kind];
      expect(Model, `${file}: a model for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect(() => new Model!(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`).not.toThrow();
      kinds.push(doc.kind);
    }
    expect(new Set(kinds)).toEqual(new Set(['ConfigMap', 'Secret', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']));
    // The validator refuses what the API server would: a wrong type is caught.
    const { Deployment } = await import('kubernetes-models/apps/v1');
    const broken = structuredClone(deployment());
    broken.spec.template.spec.terminationGracePeriodSeconds = '30s';
    expect(() => new Deployment(broken).validate()).toThrow(/terminationGracePeriodSeconds/);
  });

  it('the kustomization lists every manifest but the secrets\' placeholders', () => {
    const kustomization = parseYaml(read(`${K8S_DIR}/kustomization.yaml`)) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(k8sFiles.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.yaml'));
  });

  it('probes readiness on /readyz and liveness on /healthz, on the container\'s port', () => {
    const c = container();
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.ports).toEqual([{ name: 'http', containerPort: Number(configMap().PORT), protocol: 'TCP' }]);
    expect(String(c.ports[0].containerPort)).toBe(one('EXPOSE'));
    const service = k8s('Service')[0]!;
    expect(service.spec.ports[0].targetPort).toBe('http');
  });

  it('gives a pod longer to stop than the drain takes', () => {
    const cm = configMap();
    const drainMs = Number(cm.SHUTDOWN_GRACE_MS) + Number(cm.SHUTDOWN_TIMEOUT_MS);
    expect(drainMs).toBeGreaterThan(0);
    // + up to 2 s for the last log lines (README, "Performance"), + a margin.
    expect(deployment().spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(drainMs + 2_000 + 5_000);
  });

  it('runs one process per pod, non-root, on a read-only root filesystem, with resources', () => {
    expect(configMap().WORKERS).toBe('1');
    expect(configMap().NODE_ENV).toBe('production');
    const pod = deployment().spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(String(pod.securityContext.runAsUser)).toBe(one('USER').split(':')[0]);
    const c = container();
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits.memory).toEqual(expect.any(String));
  });

  it('names every upstream URL in the ConfigMap and mounts every upstream credential as a *_FILE', () => {
    for (const v of baseUrlVariables) expect(configMap()[v], v).toMatch(/^https?:\/\//);
    const c = container();
    const env = new Map<string, { value?: string; valueFrom?: unknown }>(c.env.map((e: any) => [e.name, e]));
    const pod = deployment().spec.template.spec;
    const secrets = new Map(k8s('Secret').map((s) => [s.metadata!.name!, s.stringData as Record<string, string>]));
    const fileOf = (variable: string) => {
      const path = env.get(`${variable}_FILE`)?.value;
      expect(path, `${variable}_FILE`).toBeDefined();
      // The file is a key of a Secret mounted as a folder (so a rotation reaches it), never a subPath.
      const mount = c.volumeMounts.find((m: any) => path!.startsWith(`${m.mountPath}/`));
      expect(mount, `${variable}_FILE is inside a mount`).toBeDefined();
      expect(mount.subPath).toBeUndefined();
      const volume = pod.volumes.find((v: any) => v.name === mount.name);
      const key = path!.slice(mount.mountPath.length + 1);
      expect(secrets.get(volume.secret.secretName), `${variable}: Secret ${volume.secret.secretName}`).toHaveProperty([key]);
    };
    for (const v of credentialVariables) {
      fileOf(v);
      expect(env.has(v), `${v} itself is not set`).toBe(false);
    }
    fileOf('CLIENTS');
    for (const [name, e] of env) if (!name.endsWith('_FILE')) expect(e.valueFrom, `${name} comes from a Secret`).toHaveProperty('secretKeyRef');
  });

  it('scales the Deployment with an autoscaling/v2 HPA and a PodDisruptionBudget over its pods', () => {
    const labels = deployment().spec.template.metadata.labels;
    const hpa = k8s('HorizontalPodAutoscaler')[0]!;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment().metadata!.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    const pdb = k8s('PodDisruptionBudget')[0]!;
    for (const selector of [deployment().spec.selector.matchLabels, pdb.spec.selector.matchLabels, k8s('Service')[0]!.spec.selector]) {
      expect(labels).toMatchObject(selector);
    }
  });
});

describe('compose file', () => {
  it('runs two gateway replicas of the image with Redis, behind a proxy that checks /readyz', () => {
    const gw = compose.services.gateway;
    expect(gw.deploy.replicas).toBe(2);
    expect(gw.command).toBeUndefined(); // the image's CMD
    expect(compose.services.redis.image).toMatch(/^redis:/);
    const env = composeGatewayEnv();
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    expect(env.WORKERS).toBe('1');
    expect(env.NODE_ENV).toBe('production');
    for (const v of baseUrlVariables) expect(env[v], v).toMatch(/^http:\/\/sandbox:\d+$/);
    expect(milliseconds(gw.stop_grace_period)).toBeGreaterThanOrEqual(Number(env.SHUTDOWN_GRACE_MS) + Number(env.SHUTDOWN_TIMEOUT_MS) + 2_000);
    const haproxy = read('deploy/compose/haproxy.cfg');
    expect(haproxy).toMatch(/option httpchk GET \/readyz/);
    expect(haproxy).toMatch(/server-template \S+ \d+ gateway:4000/);
    expect(compose.services.proxy.ports).toEqual(['4000:4000']);
  });

  it('gives every upstream credential as a *_FILE of a mounted secret', () => {
    const env = composeGatewayEnv();
    for (const v of credentialVariables) {
      expect(env[v], `${v} itself is not set`).toBeUndefined();
      const path = env[`${v}_FILE`];
      const name = /^\/run\/secrets\/([a-z_]+)$/.exec(path ?? '')?.[1];
      expect(name, `${v}_FILE`).toBeDefined();
      expect(compose.services.gateway.secrets).toContain(name);
      expect(existsSync(join(ROOT, 'deploy/compose', compose.secrets[name!]!.file)), `${name}'s file`).toBe(true);
    }
  });
});

describe('variables', () => {
  /** Every variable named in a table of the README (or of the sandbox's README, which it links to for those). */
  function documented(): (name: string) => boolean {
    const literal = new Set<string>();
    const patterns: RegExp[] = [];
    for (const file of ['README.md', 'sandbox/README.md']) {
      for (const line of read(file).split('\n')) {
        if (!line.startsWith('|')) continue;
        for (const [, name] of line.matchAll(/`((?:[A-Z0-9_]|<[A-Z]+>)+)`/g)) {
          if (name!.includes('<')) patterns.push(new RegExp(`^${name!.replace(/<[A-Z]+>/g, '[A-Z0-9_]+')}$`));
          else literal.add(name!);
        }
      }
    }
    const isDocumented = (n: string): boolean => literal.has(n) || patterns.some((p) => p.test(n) && !/^\^\[/.test(p.source));
    // `<VARIABLE>_FILE` is documented for the variables that are (a credential as a file).
    return (n) => isDocumented(n) || (n.endsWith('_FILE') && patterns.some((p) => p.test(n)) && isDocumented(n.slice(0, -'_FILE'.length)));
  }

  it('every variable the Dockerfile, the compose file and the manifests set is documented in the README', () => {
    const named = new Set<string>([
      ...Object.keys(imageEnv()),
      ...Object.keys(composeGatewayEnv()),
      ...Object.keys(compose.services.sandbox.environment ?? {}),
      ...Object.keys(configMap()),
      ...container().env.map((e: { name: string }) => e.name),
    ]);
    expect(named.size).toBeGreaterThan(20);
    const isDocumented = documented();
    expect([...named].filter((n) => !isDocumented(n)).sort()).toEqual([]);
    // The check can fail: a made-up variable is not documented.
    expect(isDocumented('TRIBUTARY_NOT_A_VARIABLE')).toBe(false);
    expect(isDocumented('NOT_A_VARIABLE_FILE')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// The image's runtime tree, from the Dockerfile's instructions, started with its CMD.

const children: ChildProcess[] = [];
const temp: string[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const t of temp) rmSync(t, { recursive: true, force: true });
});

/** A child's stdout lines, as they come. */
function lines(child: ChildProcess): AsyncIterableIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function firstLine(child: ChildProcess, test: (line: string) => boolean, what: string): Promise<string[]> {
  const seen: string[] = [];
  for await (const line of lines(child)) {
    seen.push(line);
    if (test(line)) return seen;
  }
  throw new Error(`${what}: the process ended first (exit ${child.exitCode}). Output:\n${seen.join('\n')}`);
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

describe('the image', () => {
  it('assembled from the Dockerfile with production dependencies only, starts with its CMD and answers', async () => {
    // Each stage in a folder of its own (its WORKDIR /app), through its own instructions: COPY from
    // the build context or from an earlier stage, RUN. The build stage's `npm ci` (every
    // dependency, devDependencies included) is this checkout's node_modules, linked; its other RUN
    // lines run as written (`npm run build`). The runtime stage runs its `npm ci --omit=dev` for
    // real (the npm cache stands in for the registry where it can).
    const dirs = new Map<string, string>();
    for (const stage of stages) {
      const dir = mkdtempSync(join(tmpdir(), `tributary-${stage.name}-`));
      temp.push(dir);
      dirs.set(stage.name, dir);
      for (const i of stage.instructions) {
        if (i.op === 'COPY') {
          // COPY [--from=<stage>] <source>... <destination>, relative to WORKDIR /app.
          const from = /--from=(\S+)/.exec(i.args)?.[1];
          const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
          const dest = words.pop()!;
          for (const src of words) {
            const source = from ? join(dirs.get(from)!, src.replace(/^\/app\//, '')) : join(ROOT, src);
            const to = dest.endsWith('/') ? join(dir, dest, basename(src)) : join(dir, dest);
            mkdirSync(dirname(to), { recursive: true });
            cpSync(source, to, { recursive: true });
          }
        } else if (i.op === 'RUN') {
          const command = i.args.replace(/--mount=\S+\s+/g, '');
          const [exe, ...args] = command.split(/\s+/);
          expect(exe, `${stage.name}: RUN runs npm`).toBe('npm');
          if (stage === runtime) {
            expect(command, 'the runtime stage runs only npm ci --omit=dev').toMatch(/^npm ci --omit=dev\b/);
            await run('npm', [...args, '--prefer-offline'], { cwd: dir, env: { ...process.env, NODE_ENV: 'production' }, maxBuffer: 16 * 1024 * 1024 });
          } else if (args[0] === 'ci') {
            symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
          } else {
            await run('npm', args, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
          }
        }
      }
    }
    const app = dirs.get(runtime.name)!;
    expect(existsSync(join(app, 'node_modules/graphql-yoga'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/vitest')), 'no devDependency in the image').toBe(false);
    expect(existsSync(join(app, 'src')), 'no TypeScript sources in the image').toBe(false);

    // The compose file's sandbox command, from the same tree, on ports of its own.
    const sandboxCommand = compose.services.sandbox.command as string[];
    const sandbox = spawn(sandboxCommand[0]!, sandboxCommand.slice(1), {
      cwd: app,
      env: { PATH: process.env.PATH, ...imageEnv(), ...compose.services.sandbox.environment, SANDBOX_HOST: '127.0.0.1', SANDBOX_PORT_BASE: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(sandbox);
    // It prints each upstream's URL, then "sandbox ready".
    const printed = await firstLine(sandbox, (l) => l.startsWith('sandbox ready'), 'sandbox');
    const urls = Object.fromEntries(printed.map((l) => l.split(/\s+/)).filter((w) => w.length === 2) as [string, string][]);

    // The gateway: the image's CMD and ENV, the compose file's settings and credential files,
    // pointed at that sandbox, on a free port.
    const composeEnv = composeGatewayEnv();
    const credentialFiles = Object.fromEntries(
      credentialVariables.map((v) => [`${v}_FILE`, join(ROOT, 'deploy/compose', compose.secrets[/\/run\/secrets\/(\w+)$/.exec(composeEnv[`${v}_FILE`]!)![1]!]!.file)]),
    );
    const gatewayEnv: Record<string, string> = {
      PATH: process.env.PATH!,
      ...imageEnv(),
      // The compose file's own services (Redis, PostgreSQL) do not resolve here: memory cache and the embedded log instead.
      ...Object.fromEntries(Object.entries(composeEnv).filter(([k]) => !k.startsWith('UPSTREAM_') && k !== 'REDIS_URL' && k !== 'DATABASE_URL')),
      ...credentialFiles,
      ...Object.fromEntries(upstreamList.map((d) => [d.baseUrlEnv, urls[d.name]!])),
      PORT: '0',
      HOST: '127.0.0.1',
    };
    expect(gatewayEnv.NODE_ENV).toBe('production');
    const [node, ...argv] = cmd();
    const gateway = spawn(node!, argv, { cwd: app, env: gatewayEnv, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(gateway);
    const out = await firstLine(gateway, (l) => l.includes('"tributary listening"'), 'gateway');
    const listening = JSON.parse(out.at(-1)!) as { url: string; mode: string; sandbox: boolean };
    expect(listening).toMatchObject({ mode: 'production', sandbox: false });
    const base = listening.url.replace(/\/graphql$/, '');

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // The HEALTHCHECK, as Docker runs it: in the container's environment.
    const hc = one('HEALTHCHECK');
    const [hcNode, ...hcArgs] = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    await expect(run(hcNode!, hcArgs, { cwd: app, env: { ...gatewayEnv, PORT: new URL(base).port } })).resolves.toBeDefined();

    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: OPERATIONS.ProductPage, variables: { id: '1', country: 'US', postcode: '10001' } }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data?: any; errors?: unknown };
    expect(body.errors).toBeUndefined();
    // Every upstream answered with the credential read from its file (a wrong one would be a null and an error).
    expect(body.data.product).toMatchObject({ id: '1', price: { sale: { currencyCode: 'USD' } }, availability: { status: expect.any(String) } });
    expect(body.data.product.shippingEstimate.carrier).toEqual(expect.any(String));
    expect(body.data.product.reviews.length).toBeGreaterThan(0);

    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    sandbox.kill('SIGTERM');
    expect(await exited(sandbox)).toBe(0);
  }, 300_000);
});
