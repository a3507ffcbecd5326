/**
 * The harness may end only processes it started, and it often ends them from another process than
 * the one that started them (global teardown, or the next run cleaning up after a killed one). A
 * bare PID is not enough for that: after a crash the number can be reused. So a daemon is known by
 * its PID plus its kernel start time, and it is signalled only while both still match. Daemons are
 * started detached, in their own session, so a Ctrl-C in the terminal reaches vitest (whose
 * teardown stops them in order) and not the daemons directly.
 */
import { spawn } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import { withoutDockerSettings } from "./commands.ts";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot at which the process started. */
  startTime: string;
}

function readStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, startTime: fields[19]! };
  } catch {
    return undefined;
  }
}

export function identify(pid: number): ProcessIdentity {
  const stat = readStat(pid);
  if (!stat) throw new Error(`process ${pid} is not running`);
  return { pid, startTime: stat.startTime };
}

/** True while the very process the identity names runs (a zombie counts as ended). */
export function isRunning(target: ProcessIdentity): boolean {
  const stat = readStat(target.pid);
  return stat !== undefined && stat.startTime === target.startTime && stat.state !== "Z";
}

/** True while a process with this PID runs, whichever it is (a zombie awaiting its parent has ended). */
export function pidRunning(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** PIDs of the direct children of a process, over all its threads. */
export function childPids(pid: number): number[] {
  try {
    const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8");
    return tasks.split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Polls `condition` until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

export interface DaemonOptions {
  /** stdout and stderr go here (appended), so a failed start can show why. */
  logFile: string;
  /** Default: this process's environment without the docker client's settings (withoutDockerSettings). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Starts a long-running program detached from this process; resolves once it has a PID. */
export function spawnDaemon(argv: string[], opts: DaemonOptions): Promise<ProcessIdentity> {
  const [file, ...args] = argv;
  if (!file) throw new Error("a daemon needs a program to run");
  const log = openSync(opts.logFile, "a");
  try {
    const child = spawn(file, args, { detached: true, stdio: ["ignore", log, log], env: opts.env ?? withoutDockerSettings(), cwd: opts.cwd });
    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("spawn", () => {
        child.unref();
        resolve(identify(child.pid!));
      });
    });
  } finally {
    closeSync(log);
  }
}

/**
 * Asks the process to end with SIGTERM and waits up to `graceMs` (or until `finished` says the
 * work that matters is done), then sends SIGKILL. Does nothing if the process has already ended.
 */
export async function stopProcess(target: ProcessIdentity, graceMs: number, finished?: () => boolean): Promise<void> {
  if (!signal(target, "SIGTERM")) return;
  await waitFor(() => !isRunning(target) || (finished?.() ?? false), graceMs);
  if (signal(target, "SIGKILL")) await waitFor(() => !isRunning(target), 5_000);
}

/** Ends the process at once with SIGKILL, as a crash or a power cut would, and waits until it is gone. */
export async function killProcess(target: ProcessIdentity): Promise<void> {
  if (signal(target, "SIGKILL")) await waitFor(() => !isRunning(target), 10_000);
}

/** Sends a signal if the identity still names a running process; returns whether it did. */
function signal(target: ProcessIdentity, name: NodeJS.Signals): boolean {
  if (!isRunning(target)) return false;
  try {
    process.kill(target.pid, name);
    return true;
  } catch {
    return false;
  }
}
