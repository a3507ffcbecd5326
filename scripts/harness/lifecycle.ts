/**
 * The beginning and end of a whole test run, for global setup and teardown. A run that was killed
 * hard (SIGKILL, a crashed machine session) never reaches its teardown and leaves daemons, network
 * namespaces and an iptables rule behind; the next run finds it by its dead owner and removes what
 * its ledger lists, saying so. Ctrl-C or SIGTERM to vitest is different: vitest exits 1 ms after
 * the signal, too soon for an asynchronous teardown, so the run instead starts a detached reaper
 * (scripts/harness/reap.ts) that waits for vitest to be gone and then removes the run the same way.
 * A script outside vitest (`npm run bench`) gets the same run, registry and test image through
 * withScriptRun, and its own long-running helpers join the run's ledger through startRunDaemon.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { startEngine } from "./engine.ts";
import { buildTestImages } from "./images.ts";
import { record } from "./ledger.ts";
import { createBridge } from "./network.ts";
import { spawnDaemon, type DaemonOptions, type ProcessIdentity } from "./processes.ts";
import { startRegistry } from "./registry.ts";
import { release, releaseAll } from "./release.ts";
import { createRun, RUN_DIR_VARIABLE, staleRunDirs, type Run } from "./run.ts";

const REAPER = fileURLToPath(new URL("./reap.ts", import.meta.url));
const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));

/** Removes stale runs, creates this run's directory and bridge, and exports the run to workers. */
export async function beginRun(): Promise<Run> {
  await removeStaleRuns();
  const run = createRun();
  process.env[RUN_DIR_VARIABLE] = run.dir;
  try {
    await createBridge(run);
  } catch (error) {
    await endRun(run.dir);
    throw error;
  }
  return run;
}

/** Releases everything the run's ledger lists and removes its directory; returns what it released. */
export async function endRun(runDir: string): Promise<string[]> {
  const released = await releaseAll(runDir);
  rmSync(runDir, { recursive: true, force: true });
  return released;
}

export async function removeStaleRuns(): Promise<void> {
  for (const dir of staleRunDirs()) {
    const released = await endRun(dir);
    console.warn(`berth test harness: removed ${dir}, left by a test run that ended without its teardown; released: ${released.join(", ") || "nothing"}`);
  }
}

/** Until the returned function is called, SIGINT or SIGTERM hands the run to a detached reaper. */
export function reapOnSignal(run: Run): () => void {
  const startReaper = () => {
    spawn(process.execPath, ["--import", "tsx", REAPER, run.dir], { cwd: REPOSITORY, detached: true, stdio: "ignore" }).unref();
  };
  process.once("SIGINT", startReaper);
  process.once("SIGTERM", startReaper);
  return () => {
    process.off("SIGINT", startReaper);
    process.off("SIGTERM", startReaper);
  };
}

/** The run's registry, filled with the test images built on a short-lived engine (global setup's step too). */
export async function startRegistryWithTestImages(run: Run): Promise<void> {
  const registry = await startRegistry(run);
  const builder = await startEngine({ name: "image-builder", images: false });
  try {
    await buildTestImages(builder, registry.address);
  } finally {
    await builder.stop();
  }
}

/**
 * Runs `body` inside a run of its own, as global setup would make it for vitest (bridge, registry,
 * test image), and releases the run when `body` ends, however it ends. On SIGINT or SIGTERM the
 * script exits at once and the detached reaper removes the run once the script is gone, so nothing
 * the script is still starting can outlive the clean-up.
 */
export async function withScriptRun<T>(body: (run: Run) => Promise<T>): Promise<T> {
  const run = await beginRun();
  const stopReaping = reapOnSignal(run);
  const exit = (signal: NodeJS.Signals) => process.exit(128 + constants.signals[signal]);
  process.once("SIGINT", exit);
  process.once("SIGTERM", exit);
  try {
    await startRegistryWithTestImages(run);
    return await body(run);
  } finally {
    process.off("SIGINT", exit);
    process.off("SIGTERM", exit);
    stopReaping();
    await endRun(run.dir);
  }
}

export interface RunDaemon {
  process: ProcessIdentity;
  /** Stops it (SIGTERM, then SIGKILL) and crosses it out of the ledger. */
  stop(): Promise<void>;
}

/** Starts a long-running program of a script's own (`id` unique in the run), listed in the run's ledger. */
export async function startRunDaemon(run: Run, id: string, argv: string[], opts: DaemonOptions): Promise<RunDaemon> {
  const entry = { kind: "daemon" as const, id, process: await spawnDaemon(argv, opts) };
  record(run.dir, entry);
  return { process: entry.process, stop: () => release(run.dir, entry) };
}
