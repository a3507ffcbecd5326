/**
 * The create cases of issue 13: how many creates a second the proxy carries with ten concurrent
 * clients over six engines, whether that holds as the cluster fills (160 → 2,400 containers, under a
 * containers-only quota, so the quota is checked on every create), and how long the first create
 * after a proxy restart takes with the full cluster. Six real engines (the harness's, on TCP as VMs
 * would be) and one proxy bundle in cluster mode. The cluster is filled straight on the engines, half
 * with the tenant's containers (its owner label and scoped names, as the proxy makes them) and half
 * with another tenant's, so the proxy learns of them the way it would of any container it did not
 * create. Each figure is printed beside its target with PASS/MISS and the load average; a
 * measurement, never a test. Run alone with `tsx scripts/bench/creates.ts [bundle]` to measure
 * another build (the code before a change) under the same conditions.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Engine, type Run, TEST_IMAGE, startEngines, withScriptRun } from "../harness/index.ts";
import { ApiClient, createContainers } from "./api.ts";
import { type Path, startTenantProxy, type Tenant, writeTenant } from "./paths.ts";
import { summarize, timed, type Verdict } from "./stats.ts";

const ENGINES = 6;
const CONCURRENCY = 10;
const CREATES = 100;
/** Untimed creates on each path first: the proxy's first creates on a node read its tenant bridge and the image once. */
const WARM_UP = 20;
/** Timed rounds per path, engine and proxy taking turns; each figure is the median round. */
const ROUNDS = 3;
const SMALL_CLUSTER = 160;
const LARGE_CLUSTER = 2_400;
const TARGET_RATE = 120;
const TARGET_SLOWDOWN = 1.3;
const TARGET_FIRST_CREATE_S = 0.2;
const OWNER_LABEL = "berth.tenant";
/** After a fill, how long the proxy gets to take in the engines' events before creates are timed. */
const SETTLE_MS = 5_000;

interface Throughput {
  existing: number;
  perSecond: number;
  /** The same creates straight to one engine, just before: what this machine gives at this moment. */
  enginePerSecond: number;
  /** Load average (1 min) when the case ended. */
  load: number;
}

export interface CreateResults {
  engines: number;
  concurrency: number;
  creates: number;
  throughput: Throughput & { verdict: Verdict };
  scaling: { small: Throughput; large: Throughput; verdict: Verdict };
  firstAfterRestart: { existing: number; seconds: number; load: number; verdict: Verdict };
}

const load = () => Math.round(loadavg()[0]! * 100) / 100;

export async function createCases(run: Run, dir: string, bundle: string, progress: (line: string) => void): Promise<CreateResults> {
  const own = join(dir, "creates");
  mkdirSync(join(own, "volumes"), { recursive: true });
  progress(`creates: starting ${ENGINES} engines and a proxy in cluster mode with a containers-only quota`);
  const engines = await startEngines(ENGINES, { tcp: true });
  try {
    const nodesFile = join(own, "cluster.ips");
    writeFileSync(nodesFile, `${engines.map((engine) => `${engine.name} ${engine.address}:2375`).join("\n")}\n`);
    const quotaFile = join(own, "quota.json");
    writeFileSync(quotaFile, JSON.stringify({ Containers: 100_000 }));
    const tenant = writeTenant(own, "creates-tenant");
    const settings = {
      BERTH_NODES_FILE: nodesFile,
      BERTH_VOLUME_BACKEND: "shared-dir",
      BERTH_VOLUME_ROOT: join(own, "volumes"),
      SWARM_ENFORCE_QUOTA: "true",
      SWARM_QUOTA_FILE: quotaFile,
    };
    let proxy = await startTenantProxy(run, own, "creates-proxy", bundle, settings);
    let existing = await fill(engines, tenant, 0, SMALL_CLUSTER);
    const small = await throughput(proxy.path, engines[0]!, tenant, existing);
    existing += CREATED_PER_THROUGHPUT;
    progress(
      `creates: ${small.perSecond.toFixed(1)}/s with ${small.existing} containers in the cluster, one engine directly ${small.enginePerSecond.toFixed(1)}/s (load ${small.load})`,
    );
    existing = await fill(engines, tenant, existing, LARGE_CLUSTER);
    const large = await throughput(proxy.path, engines[0]!, tenant, existing);
    existing += CREATED_PER_THROUGHPUT;
    progress(
      `creates: ${large.perSecond.toFixed(1)}/s with ${large.existing} containers in the cluster, one engine directly ${large.enginePerSecond.toFixed(1)}/s (load ${large.load})`,
    );
    await proxy.daemon.stop();
    proxy = await startTenantProxy(run, own, "creates-proxy-restarted", bundle, settings);
    const client = new ApiClient(proxy.path.target, tenant.headers);
    const seconds = (await timed(() => client.json("POST", "/containers/create", { Image: TEST_IMAGE, Cmd: ["true"] })).finally(() => client.close())) / 1000;
    progress(`creates: the first create after a restart took ${seconds.toFixed(3)} s with ${existing} containers (load ${load()})`);
    await proxy.daemon.stop();
    const slowdown = small.perSecond / large.perSecond;
    return {
      engines: ENGINES,
      concurrency: CONCURRENCY,
      creates: CREATES,
      throughput: { ...small, verdict: { target: `>= ${TARGET_RATE}/s`, measured: `${small.perSecond.toFixed(1)}/s`, pass: small.perSecond >= TARGET_RATE } },
      scaling: { small, large, verdict: { target: `< ${TARGET_SLOWDOWN}x`, measured: `${slowdown.toFixed(2)}x`, pass: slowdown < TARGET_SLOWDOWN } },
      firstAfterRestart: {
        existing,
        seconds,
        load: load(),
        verdict: { target: `<= ${TARGET_FIRST_CREATE_S} s`, measured: `${seconds.toFixed(3)} s`, pass: seconds <= TARGET_FIRST_CREATE_S },
      },
    };
  } finally {
    await Promise.all(engines.map((engine) => engine.stop()));
  }
}

/** Creates containers straight on the engines, round robin, until the cluster holds `total`. */
async function fill(engines: Engine[], tenant: Tenant, existing: number, total: number): Promise<number> {
  const clients = engines.map((engine) => new ApiClient({ socketPath: engine.socketPath }, {}));
  let next = existing;
  try {
    await Promise.all(
      Array.from({ length: engines.length * 4 }, async (_, worker) => {
        const client = clients[worker % engines.length]!;
        while (next < total) {
          const n = next++;
          const owner = n % 2 === 0 ? tenant.tenant : "creates-neighbour";
          await client.json("POST", `/containers/create?name=${owner}_fill-${n}`, { Image: TEST_IMAGE, Cmd: ["true"], Labels: { [OWNER_LABEL]: owner } });
        }
      }),
    );
  } finally {
    clients.forEach((client) => client.close());
  }
  return total;
}

/**
 * How many creates a second each path carries once warm: WARM_UP untimed creates on each, then
 * ROUNDS rounds of CREATES unnamed creates, CONCURRENCY at a time, straight to one engine and through
 * the proxy in turn (so a passing load spike costs both alike), once the fill has settled (the proxy
 * has read the containers made behind its back). Each figure is its path's median round: one round
 * is about a second, too short to trust alone on a shared machine.
 */
async function throughput(path: Path, engine: Engine, tenant: Tenant, existing: number): Promise<Throughput> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const direct = () => createContainers({ socketPath: engine.socketPath }, {}, CREATES, CONCURRENCY);
  const proxied = () => createContainers(path.target, tenant.headers, CREATES, CONCURRENCY);
  await createContainers({ socketPath: engine.socketPath }, {}, WARM_UP, CONCURRENCY);
  await createContainers(path.target, tenant.headers, WARM_UP, CONCURRENCY);
  const engineRates: number[] = [];
  const proxyRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    engineRates.push((1000 * CREATES) / (await timed(direct)));
    proxyRates.push((1000 * CREATES) / (await timed(proxied)));
  }
  return { existing, perSecond: summarize(proxyRates).p50, enginePerSecond: summarize(engineRates).p50, load: load() };
}

/** Containers one call of `throughput` adds to the cluster. */
const CREATED_PER_THROUGHPUT = 2 * (WARM_UP + ROUNDS * CREATES);

const verdict = (v: Verdict) => `${v.measured} (target ${v.target}) ${v.pass ? "PASS" : "MISS"}`;

export function formatCreates(results: CreateResults): string {
  const { throughput: rate, scaling, firstAfterRestart: first } = results;
  return [
    `creates, ${results.creates} at a time ${results.concurrency} over ${results.engines} engines, containers-only quota:`,
    `  with ${rate.existing} containers: ${verdict(rate.verdict)} (one engine directly ${rate.enginePerSecond.toFixed(1)}/s), load ${rate.load}`,
    `  ${scaling.small.existing} → ${scaling.large.existing} containers: ${scaling.small.perSecond.toFixed(1)}/s → ${scaling.large.perSecond.toFixed(1)}/s (one engine directly ${scaling.small.enginePerSecond.toFixed(1)}/s → ${scaling.large.enginePerSecond.toFixed(1)}/s), slowdown ${verdict(scaling.verdict)}, load ${scaling.small.load} / ${scaling.large.load}`,
    `  first create after a restart with ${first.existing} containers: ${verdict(first.verdict)}, load ${first.load}`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bundle = process.argv[2];
  const results = await withScriptRun(async (run) => {
    const dir = join(run.dir, "bench");
    mkdirSync(dir, { recursive: true });
    const { buildProxyBundle } = await import("../build-proxy.ts");
    const output = fileURLToPath(new URL("../../.local/bench/", import.meta.url));
    mkdirSync(output, { recursive: true });
    const built = bundle ?? (await buildProxyBundle(join(output, "berth-proxy.cjs")));
    return createCases(run, dir, built, (line) => console.log(`[bench creates] ${line}`));
  });
  console.log(formatCreates(results));
  console.log(JSON.stringify(results));
}
