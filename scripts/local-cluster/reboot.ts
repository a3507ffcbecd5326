/**
 * A docker host of the local cluster restarted as after a reboot or a power cut: every process of
 * the host dies at once (SIGKILL: nothing shuts down cleanly), what a VM keeps under /run (the
 * engine's exec root, pidfile and socket) is emptied, and the host boots its services again the
 * way the VM's units do: sshd, the node firewall, dockerd (after docker.service's ExecStartPre
 * clean-up), so no container it restarts runs a moment without the firewall. Disks survive: the
 * engine's data root, sshd's host key. The host's network namespace, its address, its firewall
 * rules (applied again all the same) and the security groups around it (the cloud's, not the
 * VM's) stay as they are.
 *
 * Only processes the cluster started are killed: the host's sshd and dockerd from the ledger, the
 * processes in dockerd's private mount namespace (containerd, the container shims, docker-proxy)
 * and everything those started (the containers and their processes), each by PID and start time.
 */
import { readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { step } from "../lib/console.ts";
import { entries, type LedgerEntry, identify, isRunning, killProcess, type ProcessIdentity, type Run } from "../harness/index.ts";
import { engineRoots } from "./configs.ts";
import { applyNodeFirewall, hostDir, startEngine, startSshd, type ClusterHost } from "./daemons.ts";
import { readState, sshAnswersFrom } from "./health.ts";
import type { ClusterLayout } from "./layout.ts";
import { makeSshKey } from "./secrets.ts";

interface ProcStat {
  pid: number;
  ppid: number;
}

function allProcesses(): ProcStat[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        return [{ pid: Number(name), ppid: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) }];
      } catch {
        return []; // ended meanwhile
      }
    });
}

function mountNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/**
 * The processes of a host: its daemons, whatever shares the engine's private mount namespace
 * (the shims are re-parented away from containerd, so the tree alone misses them), and all
 * their descendants.
 */
function hostProcesses(daemons: ProcessIdentity[], engine: ProcessIdentity): ProcessIdentity[] {
  const processes = allProcesses();
  const engineNamespace = isRunning(engine) ? mountNamespace(engine.pid) : undefined;
  const found = new Set(daemons.filter(isRunning).map((daemon) => daemon.pid));
  if (engineNamespace) for (const { pid } of processes) if (mountNamespace(pid) === engineNamespace) found.add(pid);
  for (let grew = true; grew; ) {
    grew = false;
    for (const { pid, ppid } of processes) {
      if (found.has(ppid) && !found.has(pid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found].flatMap((pid) => {
    try {
      return [identify(pid)];
    } catch {
      return [];
    }
  });
}

function ledgerProcess(ledger: LedgerEntry[], id: string): ProcessIdentity {
  const entry = ledger.find((candidate) => candidate.id === id);
  if (!entry || !("process" in entry)) throw new Error(`the cluster's ledger has no ${id}`);
  return entry.process;
}

/** Kills every process of a docker host, empties its run directories and starts its services again. */
export async function rebootNode(run: Run, layout: ClusterLayout, name: string): Promise<void> {
  const state = readState(layout);
  if (!state) throw new Error("no local cluster is up here");
  const nodes = state.hosts.filter((host) => host.role === "node");
  const node = nodes.find((host) => host.name === name);
  if (!node) throw new Error(`${name} is not a docker host of this cluster (${nodes.map((host) => host.name).join(", ")})`);
  const byRole = (role: ClusterHost["role"]) => state.hosts.find((host) => host.role === role)!;
  const ledger = entries(layout.stateDir);
  const dockerd = ledgerProcess(ledger, `${name}.dockerd`);
  const sshd = ledgerProcess(ledger, `${name}.sshd`);

  const doomed = hostProcesses([sshd, dockerd], dockerd);
  step(`${name}: power cut (SIGKILL to its ${doomed.length} processes)`);
  await Promise.all(doomed.map(killProcess));
  const survivors = doomed.filter(isRunning);
  if (survivors.length > 0) throw new Error(`${name}: processes ${survivors.map((p) => p.pid).join(", ")} did not end`);

  const engine = state.engines.find((candidate) => candidate.name === name)!;
  const roots = engineRoots({ dir: hostDir(layout, node) });
  step(`${name}: /run is empty after a boot: removing the engine's exec root, pidfile and socket`);
  for (const path of [roots.execRoot, roots.pidFile, engine.socketPath]) rmSync(path, { recursive: true, force: true });

  step(`${name}: booting: sshd, the node firewall, dockerd (berth-node-firewall.service comes before docker.service)`);
  // The security groups admit SSH to a docker host from the bastion only.
  await startSshd(run, layout, node, (await makeSshKey(layout.sshDir)).authorizedKeys, () => sshAnswersFrom(byRole("manager"), node.address));
  await applyNodeFirewall(layout, node, byRole("etcd"), byRole("nfs"));
  await startEngine(run, layout, node, byRole("etcd"));
}
