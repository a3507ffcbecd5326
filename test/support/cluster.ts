/**
 * A small FDCS cluster for tests, from real parts: etcd (the engines' shared key-value store),
 * nfs-ganesha exporting the volumes' directory, and N engines in their own namespaces joined
 * through etcd for overlay networks, listed in a nodes file as `docker-host-1 tcp://ip:2375`. The
 * proxy runs in front of them in cluster mode with the shared-directory volume backend (this
 * kernel has no NFS client; tenant-proxy/README.md says what differs on VMs).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CommandResult,
  type Engine,
  type EngineLine,
  TEST_IMAGE,
  waitFor,
  type Etcd,
  type NfsServer,
  startEngine,
  startEtcd,
  startNfsServer,
  runCommand,
  testEngineLine,
} from "../../scripts/harness/index.ts";
import { DEFAULT_OVERLAY_ADDRESS_POOL, renderSwarm } from "../../infra/render.ts";
import { swarmInput } from "../../infra/roles.ts";
import { type TestProxy, startTestProxy } from "./proxy.ts";

export interface TestCluster {
  /** The cluster store of the 20.10 line; the current line forms a swarm instead. */
  etcd?: Etcd;
  nfs: NfsServer;
  engines: Engine[];
  nodesFile: string;
  /** Environment for a proxy in cluster mode over these nodes. */
  env: Record<string, string>;
  startProxy(env: Record<string, string>): Promise<TestProxy>;
  /** The engine that runs a container, asked directly by its engine name (of `among`, default all). */
  engineOf(engineName: string, among?: Engine[]): Promise<Engine | undefined>;
  stop(): Promise<void>;
}

/**
 * The nodes: on the 20.10 line (the default) joined through etcd; on the current line (Docker 26)
 * formed into a swarm whose first node is the manager, as a stack of that line would be.
 */
export async function startTestCluster(nodeLabels: string[][], opts: { line?: EngineLine } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "berth-cluster-"));
  const line = opts.line ?? testEngineLine();
  const [etcd, nfs] = await Promise.all([line === "current" ? undefined : startEtcd(), startNfsServer()]);
  const engines: Engine[] = [];
  const stop = async () => {
    await Promise.all(engines.map((engine) => engine.stop()));
    await Promise.all([etcd?.stop(), nfs.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = await Promise.allSettled(
      nodeLabels.map((labels, index) =>
        startEngine({ name: `docker-host-${index + 1}`, labels, line, ...(etcd ? { clusterStore: etcd.clusterStore } : { tcp: true }) }),
      ),
    );
    engines.push(...started.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : [])));
    const failure = started.find((outcome) => outcome.status === "rejected");
    if (failure) throw failure.reason;
    if (line === "current") await formSwarm(engines);
  } catch (error) {
    await stop();
    throw error;
  }
  const nodesFile = join(dir, "cluster.ips");
  writeFileSync(nodesFile, `${engines.map((engine) => `${engine.name} ${engine.address}:2375`).join("\n")}\n`);
  const env = {
    BERTH_NODES_FILE: nodesFile,
    BERTH_VOLUME_BACKEND: "shared-dir",
    BERTH_VOLUME_ROOT: nfs.exportPath,
    BERTH_HEALTH_INTERVAL_MS: "500",
    BERTH_FANOUT_TIMEOUT_MS: "2000",
  };
  return {
    etcd,
    nfs,
    engines,
    nodesFile,
    env,
    startProxy: (extra) => startTestProxy(undefined, { ...env, ...extra }),
    engineOf: async (engineName, among = engines) => {
      const found = await Promise.all(
        among.map(async (engine) => ((await engine.api("GET", `/containers/${engineName}/json`)).status === 200 ? engine : undefined)),
      );
      return found.find(Boolean);
    },
    stop,
  };
}

/** The first engine initialises a swarm and the others join it as workers; the join token is never printed. */
export async function formSwarm(engines: Engine[]): Promise<string> {
  const formed = await runSwarmScript(engines);
  if (formed.code !== 0) throw new Error(`the swarm script failed: ${formed.stderr.trim()}\n${formed.stdout.trim()}`);
  return formed.stdout;
}

/** The deployment's own swarm script (templates/swarm.sh.hbs) over `engines`, run from here as from the manager VM; the first one manages. */
export function runSwarmScript(engines: Engine[]): Promise<CommandResult> {
  const unreachable = engines.filter((engine) => !engine.tcpHost).map((engine) => engine.name);
  if (unreachable.length > 0)
    throw new Error(`the swarm script reaches engines over TCP, as the manager VM does: start ${unreachable.join(", ")} with tcp: true`);
  const script = renderSwarm(
    swarmInput(
      engines.map((engine) => ({ name: engine.name, address: engine.address })),
      DEFAULT_OVERLAY_ADDRESS_POOL,
    ),
  );
  return runCommand(["bash", "-s"], { input: script, timeoutMs: 180_000 });
}

/**
 * A tenant's server on one node and its client on another, both on `network` and named `server`
 * and `client`: returns what the client fetched from the server by name across the overlay (peers
 * learn each other by gossip, so the client tries for up to 20 s). The client stays up afterwards:
 * when an overlay's last container on a node goes, dockerd 20.10 may leave its endpoint behind
 * (engine-defects.test.ts), so callers read the members while it is there, then remove both.
 */
export async function fetchedAcrossNodes(
  tenant: (args: string[]) => Promise<CommandResult>,
  network: string,
  [serverNode, clientNode]: [string, string],
): Promise<string> {
  const started = async (args: string[]) => {
    const result = await tenant(args);
    if (result.code !== 0) throw new Error(`docker ${args.join(" ")}: ${result.stderr.trim()}`);
  };
  const serve = "while true; do echo hello-from-server | nc -l -p 8080; done";
  await started(["run", "-d", "--name", "server", "--network", network, "-e", `constraint:node==${serverNode}`, TEST_IMAGE, "sh", "-c", serve]);
  const fetch = "for i in $(seq 20); do nc -w 2 server 8080 && break; sleep 1; done; echo fetched; sleep 600";
  await started(["run", "-d", "--name", "client", "--network", network, "-e", `constraint:node==${clientNode}`, TEST_IMAGE, "sh", "-c", fetch]);
  const logs = async () => (await tenant(["logs", "client"])).stdout;
  await waitFor(async () => (await logs()).includes("fetched"), 40_000, 500);
  return logs();
}
