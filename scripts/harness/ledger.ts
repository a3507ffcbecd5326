/**
 * Everything the harness creates outside its own memory (a daemon, a network namespace, a bridge,
 * an iptables rule) is written down in the run directory *before* it is created, and crossed out
 * only after it is gone. So whoever cleans up — the engine's own stop(), global teardown, the
 * reaper after Ctrl-C, or the next run after a hard kill — finds the complete list on disk, even
 * if the worker process that created the thing crashed half-way. Releasing something that was
 * never fully created must therefore be harmless.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ProcessIdentity } from "./processes.ts";
import { readRunFile, writeRunFile } from "./run.ts";

export type LedgerEntry =
  | { kind: "dockerd"; id: string; process: ProcessIdentity; socketPath: string; netns: string }
  | { kind: "daemon"; id: string; process: ProcessIdentity }
  | { kind: "netns"; id: string; netns: string; veth: string }
  | { kind: "forward-rule"; id: string; rule: string[] }
  | { kind: "bridge"; id: string; bridge: string };

const LEDGER = "ledger";

export function record(runDir: string, entry: LedgerEntry): void {
  mkdirSync(join(runDir, LEDGER), { recursive: true });
  writeRunFile(runDir, join(LEDGER, `${entry.id}.json`), entry);
}

export function forget(runDir: string, id: string): void {
  rmSync(join(runDir, LEDGER, `${id}.json`), { force: true });
}

/** The entry with this id, unless it has been crossed out (perhaps this very moment). */
export function readEntry(runDir: string, id: string): LedgerEntry | undefined {
  try {
    return readRunFile<LedgerEntry>(runDir, join(LEDGER, `${id}.json`));
  } catch {
    return undefined;
  }
}

export function entries(runDir: string): LedgerEntry[] {
  let names: string[];
  try {
    names = readdirSync(join(runDir, LEDGER));
  } catch {
    return [];
  }
  const ids = names.filter((name) => name.endsWith(".json")).map((name) => name.slice(0, -".json".length));
  return ids.map((id) => readEntry(runDir, id)).filter((entry) => entry !== undefined);
}
