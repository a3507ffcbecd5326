/**
 * What a local cluster could leave behind after `down`: its namespaces, its bridge and the bridge's
 * FORWARD rule, processes that still hold its folder (in their command line or environment, which
 * covers every daemon `up` starts; a zombie has ended, whenever its parent reaps it), and the
 * folders themselves. `npm run cluster:leftovers` and the
 * local cluster's test both ask this, so CI checks teardown the same way the test does.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { runCommand, pidRunning } from "../harness/index.ts";
import { HOSTS, madePaths, netnsName, type ClusterLayout } from "./layout.ts";

/** Everything of the cluster still present, one line each; `pids` are daemons known to have been its own. */
export async function leftovers(layout: ClusterLayout, pids: number[] = []): Promise<string[]> {
  const existing = new Set((await runCommand(["ip", "netns", "list"])).stdout.split("\n").map((line) => line.split(" ")[0]));
  const namespaces = HOSTS.map((host) => netnsName(layout, host.name))
    .filter((name) => existing.has(name))
    .map((name) => `network namespace ${name}`);
  const bridge = (await runCommand(["ip", "link", "show", layout.bridge])).code === 0 ? [`bridge ${layout.bridge}`] : [];
  const rules = (await runCommand(["iptables", "-S", "FORWARD"])).stdout
    .split("\n")
    .filter((line) => line.includes(` ${layout.bridge} `))
    .map((line) => `iptables rule ${line}`);
  const processes = [...new Set([...pids.filter(pidRunning), ...processesHolding(layout.stateDir)])].map(describeProcess);
  const folders = madePaths(layout).filter((path) => existsSync(path));
  return [...namespaces, ...bridge, ...rules, ...processes, ...folders];
}

/** Processes whose command line or environment names `dir`. */
function processesHolding(dir: string): number[] {
  const holders: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const text = `${readFileSync(`/proc/${entry}/cmdline`, "latin1")}\0${readFileSync(`/proc/${entry}/environ`, "latin1")}`;
      if (text.includes(dir)) holders.push(Number(entry));
    } catch {
      // The process ended while it was read.
    }
  }
  return holders;
}

/** `process 1234 (dockerd --data-root ...)`, so whoever reads the list knows what to look at. */
function describeProcess(pid: number): string {
  try {
    return `process ${pid} (${readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim().slice(0, 120)})`;
  } catch {
    return `process ${pid}`;
  }
}
