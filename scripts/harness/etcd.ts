/**
 * A real etcd 3.4 with the v2 API on, as the cluster's key-value store: engines started with
 * `--cluster-store=etcd://<address>:2379` share overlay networks through it (classic multi-host
 * networking, which swarm mode would exclude). It runs in its own namespace on the run's bridge,
 * like the deployment's etcd VM.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { jsonRequest } from "./http.ts";
import { record } from "./ledger.ts";
import { createHost } from "./network.ts";
import { spawnDaemon, waitFor } from "./processes.ts";
import { release } from "./release.ts";
import { currentRun } from "./run.ts";

export interface Etcd {
  address: string;
  /** `etcd://<address>:2379`, for dockerd's --cluster-store. */
  clusterStore: string;
  stop(): Promise<void>;
}

export async function startEtcd(): Promise<Etcd> {
  const run = currentRun();
  const host = await createHost(run);
  const dir = join(run.dir, "etcd", String(host.hostIndex));
  mkdirSync(dir, { recursive: true });
  const client = `http://${host.address}:2379`;
  const daemon = await spawnDaemon(
    [
      "nsenter",
      `--net=/var/run/netns/${host.netns}`,
      "/usr/bin/etcd",
      "--name",
      "etcd0",
      "--data-dir",
      join(dir, "data"),
      "--enable-v2",
      "--listen-client-urls",
      client,
      "--advertise-client-urls",
      client,
      "--listen-peer-urls",
      `http://${host.address}:2380`,
      "--initial-advertise-peer-urls",
      `http://${host.address}:2380`,
      "--initial-cluster",
      `etcd0=http://${host.address}:2380`,
    ],
    { logFile: join(dir, "etcd.log") },
  );
  const entry = { kind: "daemon" as const, id: `host-${host.hostIndex}.etcd`, process: daemon };
  record(run.dir, entry);
  const etcd: Etcd = {
    address: host.address,
    clusterStore: `etcd://${host.address}:2379`,
    stop: async () => {
      await release(run.dir, entry);
      await release(run.dir, host.entry);
    },
  };
  const healthy = () =>
    jsonRequest({ host: host.address, port: 2379 }, "GET", "/v2/keys/", { timeoutMs: 1_000 }).then(
      (r) => r.status === 200,
      () => false,
    );
  if (!(await waitFor(healthy, 30_000, 100))) {
    await etcd.stop();
    throw new Error(`etcd at ${client} did not answer within 30 s (see ${dir}/etcd.log)`);
  }
  return etcd;
}
