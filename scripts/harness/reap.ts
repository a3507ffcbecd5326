/**
 * Removes test runs whose vitest process is gone, from outside that process. Started detached by a
 * run that received SIGINT or SIGTERM (with the run directory as argument: it waits up to 30 s for
 * the run's owner to exit, then removes the run); run by hand with no argument, it removes every
 * stale run: `npx tsx scripts/harness/reap.ts`.
 */
import { existsSync } from "node:fs";
import { removeStaleRuns } from "./lifecycle.ts";
import { isRunning, waitFor } from "./processes.ts";
import { readRunFile, type Run } from "./run.ts";

const runDir = process.argv[2];
if (runDir && existsSync(runDir)) {
  const { owner } = readRunFile<Run>(runDir, "run.json");
  await waitFor(() => !isRunning(owner), 30_000, 100);
}
await removeStaleRuns();
