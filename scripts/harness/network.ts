/**
 * Each engine (and the registry) is a "host" of its own: a network namespace joined by a veth pair
 * to the run's bridge in the root namespace, the way docker nodes share a LAN in the real
 * deployment. Bridged traffic between the namespaces is plain layer 2, so the root namespace's
 * ip_forward stays as it is and the namespaces get no default route: nothing a test starts can
 * reach beyond the bridge. Because br_netfilter sends bridged frames through the FORWARD chain,
 * the run adds one accept rule for its bridge. Addresses are handed out by exclusive creation of a
 * file per address in the run directory, which is safe across vitest's worker processes, and are
 * never reused within a run (no stale ARP entries pointing at a stopped engine).
 */
import { openSync, closeSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { runChecked } from "./commands.ts";
import { record, type LedgerEntry } from "./ledger.ts";
import { release } from "./release.ts";
import type { Run } from "./run.ts";

const FIRST_HOST = 10;
const LAST_HOST = 65_000;

export interface HostNamespace {
  /** A number unique within the run; it is also the tail of the host's address. */
  hostIndex: number;
  netns: string;
  address: string;
  /** What removes the namespace and its veth again. */
  entry: NamespaceEntry;
}

type NamespaceEntry = Extract<LedgerEntry, { kind: "netns" }>;

/** The run's bridge (its address ends in .0.1) and the FORWARD rule that lets it carry traffic. */
export async function createBridge(run: Run): Promise<void> {
  const rule = forwardRule(run);
  record(run.dir, { kind: "bridge", id: "bridge", bridge: run.bridge });
  await runBatch([`link add ${run.bridge} type bridge`, `addr add ${run.subnetPrefix}.0.1/16 dev ${run.bridge}`, `link set ${run.bridge} up`]);
  record(run.dir, { kind: "forward-rule", id: "forward-rule", rule });
  await runChecked(["iptables", "-I", ...rule]);
}

function forwardRule(run: Run): string[] {
  return ["FORWARD", "-i", run.bridge, "-o", run.bridge, "-m", "comment", "--comment", `berth bridge ${run.bridge}`, "-j", "ACCEPT"];
}

/**
 * Creates a namespace on the run's bridge with the next free address, loopback up; `name` names it
 * (the local cluster's `berth-manager`), else it is `berth<run>-<host>`.
 */
export async function createHost(run: Run, name?: string): Promise<HostNamespace> {
  const hostIndex = claimHostIndex(run);
  const netns = name ?? `berth${run.index}-${hostIndex}`;
  const veth = `berth${run.index}v${hostIndex}`;
  const address = `${run.subnetPrefix}.${hostIndex >> 8}.${hostIndex & 255}`;
  const entry: NamespaceEntry = { kind: "netns", id: `host-${hostIndex}.netns`, netns, veth };
  record(run.dir, entry);
  try {
    await runBatch([`netns add ${netns}`, `link add ${veth} type veth peer name eth0 netns ${netns}`, `link set ${veth} master ${run.bridge} up`]);
    await runBatch([`addr add ${address}/16 dev eth0`, "link set eth0 up", "link set lo up"], netns);
  } catch (error) {
    await release(run.dir, entry);
    throw error;
  }
  return { hostIndex, netns, address, entry };
}

function claimHostIndex(run: Run): number {
  const claims = join(run.dir, "addresses");
  mkdirSync(claims, { recursive: true });
  for (let hostIndex = FIRST_HOST; hostIndex <= LAST_HOST; hostIndex++) {
    try {
      closeSync(openSync(join(claims, String(hostIndex)), "wx"));
      return hostIndex;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  throw new Error(`run ${run.index} has used all its addresses`);
}

function runBatch(commands: string[], netns?: string): Promise<string> {
  const namespace = netns ? ["-n", netns] : [];
  return runChecked(["ip", ...namespace, "-batch", "-"], { input: `${commands.join("\n")}\n` });
}
