/**
 * How each kind of thing in the ledger is undone, in one place, so an engine's own stop(), global
 * teardown and the clean-up after a killed run all undo things the same way. Order matters:
 * daemons first (a dockerd unmounts its layers and removes its containers' namespaces as it
 * stops), then the network namespaces (and anything still running inside them, which can only be
 * what the harness started there), then the bridge and its FORWARD rule.
 *
 * A dockerd is stopped quickly on purpose: its running containers are stopped with no grace period
 * first (a busybox `sleep` as PID 1 ignores SIGTERM and would cost 10 s), and once dockerd has shut
 * containerd down its work is done, so it is not left to spend another 3 s retrying its gRPC
 * connection to the containerd it just stopped.
 */
import { runChecked, runCommand } from "./commands.ts";
import { jsonRequest } from "./http.ts";
import { entries, forget, type LedgerEntry } from "./ledger.ts";
import { childPids, isRunning, stopProcess } from "./processes.ts";

const DAEMON_GRACE_MS = 10_000;
const DOCKERD_GRACE_MS = 30_000;
const RELEASE_ORDER: LedgerEntry["kind"][] = ["dockerd", "daemon", "netns", "forward-rule", "bridge"];

export async function release(runDir: string, entry: LedgerEntry): Promise<void> {
  switch (entry.kind) {
    case "dockerd":
      await stopDockerd(entry);
      break;
    case "daemon":
      await stopProcess(entry.process, DAEMON_GRACE_MS);
      break;
    case "netns":
      await endProcessesIn(entry.netns);
      await runCommand(["ip", "netns", "delete", entry.netns]);
      await runCommand(["ip", "link", "delete", entry.veth]);
      break;
    case "forward-rule":
      while ((await runCommand(["iptables", "-C", ...entry.rule])).code === 0) await runChecked(["iptables", "-D", ...entry.rule]);
      break;
    case "bridge":
      await runCommand(["ip", "link", "delete", entry.bridge]);
      break;
  }
  forget(runDir, entry.id);
}

/** Releases everything the run's ledger still lists; returns what it released, e.g. ["netns berth0-12"]. */
export async function releaseAll(runDir: string): Promise<string[]> {
  const released: string[] = [];
  for (const kind of RELEASE_ORDER) {
    const batch = entries(runDir).filter((entry) => entry.kind === kind);
    await Promise.all(batch.map((entry) => release(runDir, entry)));
    released.push(...batch.map((entry) => `${kind} ${entry.id}`));
  }
  return released;
}

async function stopDockerd(entry: Extract<LedgerEntry, { kind: "dockerd" }>): Promise<void> {
  if (!isRunning(entry.process)) return;
  await stopContainersAtOnce(entry.socketPath).catch(() => {}); // an engine that no longer answers is stopped all the same
  const containerdHasStopped = () => childPids(entry.process.pid).length === 0;
  await stopProcess(entry.process, DOCKERD_GRACE_MS, containerdHasStopped);
}

async function stopContainersAtOnce(socketPath: string): Promise<void> {
  const running = await jsonRequest({ socketPath }, "GET", "/containers/json", { timeoutMs: 5_000 });
  if (running.status !== 200) return;
  await Promise.all(
    (running.body as { Id: string }[]).map((container) => jsonRequest({ socketPath }, "POST", `/containers/${container.Id}/stop?t=0`, { timeoutMs: 10_000 })),
  );
}

async function endProcessesIn(netns: string): Promise<void> {
  const listed = await runCommand(["ip", "netns", "pids", netns]);
  for (const pid of listed.stdout.split("\n").filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
