/**
 * The cluster-mode case: what fanning a list out to every node costs, and how fast the proxy
 * schedules creates. Six real engines (the harness's, each in its own namespace, on TCP as VMs
 * would be) and three proxy bundles in cluster mode over the first 1, 3 and 6 of them, each with a
 * tenant of its own holding the same number of containers, spread by the scheduler. `ps -a` is
 * timed on the three proxies call by call in rotating order (background load falls on all alike);
 * the target is the issue's: six engines at most 1.5x one. Then 100 creates, ten at a time, go
 * through the six-engine proxy and straight to one engine, and the node each one landed on is
 * counted, so a throughput figure cannot hide a scheduler that put everything on one node.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Engine, type Run, startEngines } from "../harness/index.ts";
import { ApiClient, createContainers } from "./api.ts";
import { type Path, startTenantProxy, type Tenant, writeTenant } from "./paths.ts";
import { type Summary, summarize, timed, type Verdict } from "./stats.ts";

export const FAN_OUT_ENGINES = [1, 3, 6] as const;
const CONTAINERS_PER_TENANT = 60;
const PS_ROUNDS = 40;
const CREATES = 100;
const CREATE_CONCURRENCY = 10;
const TARGET_RATIO = 1.5;

export interface FanOutResults {
  containersPerTenant: number;
  ps: Array<{ engines: number } & Summary>;
  psVerdict: Verdict;
  creates: {
    count: number;
    concurrency: number;
    engineOpsPerSec: number;
    proxyOpsPerSec: number;
    /** How many of the proxy's creates each node got. */
    perNode: Record<string, number>;
  };
}

interface Setup {
  engines: number;
  path: Path;
  tenant: Tenant;
}

export async function fanOutCase(run: Run, dir: string, bundle: string, progress: (line: string) => void): Promise<FanOutResults> {
  progress(`fan-out: starting ${Math.max(...FAN_OUT_ENGINES)} engines and ${FAN_OUT_ENGINES.length} proxies in cluster mode`);
  const engines = await startEngines(Math.max(...FAN_OUT_ENGINES), { tcp: true });
  try {
    const setups = await Promise.all(FAN_OUT_ENGINES.map((count) => startClusterProxy(run, dir, engines.slice(0, count), bundle)));
    progress(`fan-out: each proxy's tenant creates ${CONTAINERS_PER_TENANT} containers through it`);
    for (const setup of setups) await createContainers(setup.path.target, setup.tenant.headers, CONTAINERS_PER_TENANT, CREATE_CONCURRENCY);
    const ps = await psLatencies(setups);
    const ratio = ps.at(-1)!.p50 / ps[0]!.p50;
    const psVerdict = { target: `<= ${TARGET_RATIO.toFixed(2)}x`, measured: `${ratio.toFixed(2)}x`, pass: ratio <= TARGET_RATIO };
    progress(
      `fan-out: ps p50 ${ps.map((figures) => `${figures.engines} engines ${figures.p50.toFixed(2)} ms`).join(", ")} -> ${psVerdict.measured} ${psVerdict.pass ? "PASS" : "MISS"}`,
    );
    progress(`fan-out: ${CREATES} creates, ${CREATE_CONCURRENCY} at a time, through the ${setups.at(-1)!.engines}-engine proxy and straight to one engine`);
    const creates = await createThroughput(setups.at(-1)!, engines[0]!);
    return { containersPerTenant: CONTAINERS_PER_TENANT, ps, psVerdict, creates };
  } finally {
    await Promise.all(engines.map((engine) => engine.stop()));
  }
}

async function startClusterProxy(run: Run, dir: string, engines: Engine[], bundle: string): Promise<Setup> {
  const own = join(dir, `fan-out-${engines.length}`);
  mkdirSync(join(own, "volumes"), { recursive: true });
  const nodesFile = join(own, "cluster.ips");
  writeFileSync(nodesFile, `${engines.map((engine) => `${engine.name} ${engine.address}:2375`).join("\n")}\n`);
  const tenant = writeTenant(own, `fan-out-${engines.length}`);
  const { path } = await startTenantProxy(run, own, `fan-out-proxy-${engines.length}`, bundle, {
    BERTH_NODES_FILE: nodesFile,
    BERTH_VOLUME_BACKEND: "shared-dir",
    BERTH_VOLUME_ROOT: join(own, "volumes"),
  });
  return { engines: engines.length, path, tenant };
}

async function psLatencies(setups: Setup[]): Promise<FanOutResults["ps"]> {
  const clients = setups.map((setup) => new ApiClient(setup.path.target, setup.tenant.headers));
  const samples: number[][] = setups.map(() => []);
  try {
    for (let round = 0; round < PS_ROUNDS; round++) {
      for (let offset = 0; offset < setups.length; offset++) {
        const index = (round + offset) % setups.length;
        let listed: unknown[] = [];
        samples[index]!.push(await timed(async () => (listed = await clients[index]!.json<unknown[]>("GET", "/containers/json?all=1"))));
        if (listed.length !== CONTAINERS_PER_TENANT)
          throw new Error(`the ${setups[index]!.engines}-engine proxy lists ${listed.length} containers, not ${CONTAINERS_PER_TENANT}`);
      }
    }
  } finally {
    clients.forEach((client) => client.close());
  }
  return setups.map((setup, index) => ({ engines: setup.engines, ...summarize(samples[index]!) }));
}

async function createThroughput(setup: Setup, engine: Engine): Promise<FanOutResults["creates"]> {
  const direct = await timed(() => createContainers({ socketPath: engine.socketPath }, setup.tenant.headers, CREATES, CREATE_CONCURRENCY));
  const proxied = await timed(() => createContainers(setup.path.target, setup.tenant.headers, CREATES, CREATE_CONCURRENCY));
  const client = new ApiClient(setup.path.target, setup.tenant.headers);
  try {
    const listed = await client.json<Array<{ Names: string[] }>>("GET", "/containers/json?all=1");
    const perNode: Record<string, number> = {};
    for (const { Names } of listed) {
      const node = Names[0]!.split("/")[1]!;
      perNode[node] = (perNode[node] ?? 0) + 1;
    }
    const counted = Object.values(perNode).reduce((sum, n) => sum + n, 0);
    if (counted !== CONTAINERS_PER_TENANT + CREATES)
      throw new Error(`the proxy lists ${counted} containers after ${CREATES} creates, not ${CONTAINERS_PER_TENANT + CREATES}`);
    return { count: CREATES, concurrency: CREATE_CONCURRENCY, engineOpsPerSec: CREATES / (direct / 1000), proxyOpsPerSec: CREATES / (proxied / 1000), perNode };
  } finally {
    client.close();
  }
}

export function formatFanOut(results: FanOutResults): string {
  const base = results.ps[0]!.p50;
  const rows = results.ps.map(
    (figures) =>
      `  ${String(figures.engines).padStart(2)} engines: ps -a p50 ${figures.p50.toFixed(2)} ms, p90 ${figures.p90.toFixed(2)} ms (${(figures.p50 / base).toFixed(2)}x)`,
  );
  const { creates } = results;
  return [
    `cluster mode, ${results.containersPerTenant} containers per tenant:`,
    ...rows,
    `  6 engines vs 1: ${results.psVerdict.measured} (target ${results.psVerdict.target}) ${results.psVerdict.pass ? "PASS" : "MISS"}`,
    `  ${creates.count} creates, ${creates.concurrency} at a time: one engine directly ${creates.engineOpsPerSec.toFixed(0)}/s, proxy over ${Object.keys(creates.perNode).length} nodes ${creates.proxyOpsPerSec.toFixed(0)}/s (${(creates.proxyOpsPerSec / creates.engineOpsPerSec).toFixed(2)}x); per node (with the tenant's earlier ${results.containersPerTenant}): ${Object.entries(
      creates.perNode,
    )
      .sort()
      .map(([node, n]) => `${node} ${n}`)
      .join(", ")}`,
  ].join("\n");
}
