/**
 * One test run (one `vitest` process with its worker processes) owns one run directory. Global
 * setup creates it and exports its path in BERTH_TEST_RUN_DIR, which the forked workers inherit;
 * that is how a test file finds the run's bridge, address pool and shared daemons without talking
 * to the main process. Runs are numbered by the directory a run manages to create, so two runs on
 * one machine (two engineers, or CI beside a developer) never share a number, and the number picks
 * the run's private /16 (10.213.0.0/16 for run 0, 10.214.0.0/16 for run 1, ...). The run records
 * its owner (the vitest main process): a run whose owner is gone is stale and may be cleaned up.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { identify, isRunning, type ProcessIdentity } from "./processes.ts";

const RUNS_ROOT = "/tmp/berth-test-runs";
export const RUN_DIR_VARIABLE = "BERTH_TEST_RUN_DIR";
const MAX_CONCURRENT_RUNS = 40;
const FIRST_SECOND_OCTET = 213;

export interface Run {
  dir: string;
  index: number;
  /** The vitest main process; the run is stale once it has ended. */
  owner: ProcessIdentity;
  /** The run's bridge in the root namespace, e.g. "berth0". */
  bridge: string;
  /** First two octets of the run's /16, e.g. "10.213". */
  subnetPrefix: string;
}

/** Claims the lowest free run number for this process and writes the run's description. */
export function createRun(): Run {
  mkdirSync(RUNS_ROOT, { recursive: true });
  for (let index = 0; index < MAX_CONCURRENT_RUNS; index++) {
    const dir = join(RUNS_ROOT, String(index));
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw error;
    }
    const run: Run = { dir, index, owner: identify(process.pid), bridge: `berth${index}`, subnetPrefix: `10.${FIRST_SECOND_OCTET + index}` };
    writeRunFile(dir, "run.json", run);
    return run;
  }
  throw new Error(`${MAX_CONCURRENT_RUNS} test runs already exist under ${RUNS_ROOT}; remove stale ones`);
}

/** The run this process belongs to (set up by test/global-setup.ts). */
export function currentRun(): Run {
  const dir = process.env[RUN_DIR_VARIABLE];
  if (!dir) throw new Error(`${RUN_DIR_VARIABLE} is not set: the harness works only inside a vitest run whose global setup is test/global-setup.ts`);
  return readRunFile<Run>(dir, "run.json");
}

/** Run directories whose owner has ended (a run that was killed before its teardown). */
export function staleRunDirs(): string[] {
  let names: string[];
  try {
    names = readdirSync(RUNS_ROOT);
  } catch {
    return [];
  }
  return names.map((name) => join(RUNS_ROOT, name)).filter(isStale);
}

function isStale(dir: string): boolean {
  try {
    return !isRunning(readRunFile<Run>(dir, "run.json").owner);
  } catch {
    // No description yet: either a run being created this instant, or one killed while creating.
    return Date.now() - statSync(dir).mtimeMs > 60_000;
  }
}

/** Writes a JSON file into the run directory atomically (readers never see half a file). */
export function writeRunFile(dir: string, name: string, value: unknown): void {
  const path = join(dir, name);
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, JSON.stringify(value, null, 2));
  renameSync(partial, path);
}

export function readRunFile<T>(dir: string, name: string): T {
  return JSON.parse(readFileSync(join(dir, name), "utf8")) as T;
}
