/**
 * The beginning and end of a whole test run, for global setup and teardown. A run that was killed
 * hard (SIGKILL, a crashed machine session) never reaches its teardown and leaves daemons, network
 * namespaces and an iptables rule behind; the next run finds it by its dead owner and removes what
 * its ledger lists, saying so. Ctrl-C or SIGTERM to vitest is different: vitest exits 1 ms after
 * the signal, too soon for an asynchronous teardown, so the run instead starts a detached reaper
 * (test/harness/reap.ts) that waits for vitest to be gone and then removes the run the same way.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createBridge } from "./network.ts";
import { releaseAll } from "./release.ts";
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
