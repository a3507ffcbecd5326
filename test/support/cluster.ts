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
import { type Engine, type Etcd, type NfsServer, startEngine, startEtcd, startNfsServer } from "../../scripts/harness/index.ts";
import { type TestProxy, startTestProxy } from "./proxy.ts";

export interface TestCluster {
  etcd: Etcd;
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

export async function startTestCluster(nodeLabels: string[][]): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "berth-cluster-"));
  const [etcd, nfs] = await Promise.all([startEtcd(), startNfsServer()]);
  const engines: Engine[] = [];
  const stop = async () => {
    await Promise.all(engines.map((engine) => engine.stop()));
    await Promise.all([etcd.stop(), nfs.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = await Promise.allSettled(
      nodeLabels.map((labels, index) => startEngine({ name: `docker-host-${index + 1}`, clusterStore: etcd.clusterStore, labels })),
    );
    engines.push(...started.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : [])));
    const failure = started.find((outcome) => outcome.status === "rejected");
    if (failure) throw failure.reason;
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
