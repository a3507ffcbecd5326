/**
 * The run's image registry (Debian's docker-registry, distribution 2.8) replaces Docker Hub, which
 * this machine cannot reach: engines pull from it exactly as cluster nodes pull images they do not
 * have. It runs in a network namespace of its own on the run's bridge, so every engine reaches it
 * at a bridge address, and every engine started afterwards lists it as an insecure registry. Global
 * setup starts it and writes its address to the run directory, from which test files in worker
 * processes rebuild a handle with sharedRegistry().
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jsonRequest } from "./http.ts";
import { readEntry, record } from "./ledger.ts";
import { createHost } from "./network.ts";
import { spawnDaemon, waitFor } from "./processes.ts";
import { release } from "./release.ts";
import { currentRun, readRunFile, writeRunFile, type Run } from "./run.ts";

const REGISTRY_BINARY = "/usr/bin/docker-registry";
const PORT = 5000;
const STATE_FILE = "registry.json";
const DAEMON_ID = "registry.daemon";

export interface Registry {
  /** "<ip>:5000", reachable from every engine and configured as an insecure registry on each. */
  address: string;
  stop(): Promise<void>;
}

interface RegistryState {
  address: string;
  namespaceEntryId: string;
}

/** Starts the run's registry (global setup does this once). */
export async function startRegistry(run: Run): Promise<Registry> {
  const host = await createHost(run);
  const address = `${host.address}:${PORT}`;
  const dir = join(run.dir, "registry");
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "data")}`,
      "http:",
      `  addr: ${address}`,
      "  secret: berth-test-registry",
      "",
    ].join("\n"),
  );
  const daemon = await spawnDaemon(["nsenter", `--net=/var/run/netns/${host.netns}`, REGISTRY_BINARY, "serve", config], { logFile: join(dir, "registry.log") });
  record(run.dir, { kind: "daemon", id: DAEMON_ID, process: daemon });
  writeRunFile(run.dir, STATE_FILE, { address, namespaceEntryId: host.entry.id } satisfies RegistryState);
  const answers = () =>
    jsonRequest({ host: host.address, port: PORT }, "GET", "/v2/", { timeoutMs: 1_000 }).then(
      (res) => res.status === 200,
      () => false,
    );
  const ready = await waitFor(answers, 30_000, 100);
  if (!ready) throw new Error(`the registry at ${address} did not answer within 30 s (see ${dir}/registry.log)`);
  return registryHandle(run.dir, address);
}

/** The run's shared registry, which already holds berth-test/busybox:latest and :other. */
export function sharedRegistry(): Registry {
  const run = currentRun();
  return registryHandle(run.dir, readRunFile<RegistryState>(run.dir, STATE_FILE).address);
}

/** The address engines should trust as an insecure registry, once the run has a registry. */
export function sharedRegistryAddress(runDir: string): string | undefined {
  return existsSync(join(runDir, STATE_FILE)) ? readRunFile<RegistryState>(runDir, STATE_FILE).address : undefined;
}

function registryHandle(runDir: string, address: string): Registry {
  return {
    address,
    stop: async () => {
      const { namespaceEntryId } = readRunFile<RegistryState>(runDir, STATE_FILE);
      for (const id of [DAEMON_ID, namespaceEntryId]) {
        const entry = readEntry(runDir, id);
        if (entry) await release(runDir, entry);
      }
    },
  };
}
