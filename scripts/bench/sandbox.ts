/**
 * `npm run bench:sandbox`: what each tenants' sandbox (berth:sandbox) costs, beside plain runc, on
 * real dockerd 20.10 engines of the test harness (one per sandbox, one at a time, set up as a node
 * of such a stack: infra/sandbox.ts). Straight to the engine: the proxy's own cost is `npm run bench`'s.
 * Four workloads, each in busybox:
 * - start: `docker run --rm <image> true`, the whole CLI round trip;
 * - CPU: a shell arithmetic loop in a running container (`docker exec`, less an empty exec's time);
 * - syscalls: `dd bs=1` from /dev/zero to /dev/null, a read and a write per byte (same);
 * - network: 256 MiB from one container to another over a user network (`nc`), timed inside.
 * Prints each figure as a p50 and its ratio to runc, and writes .local/bench/sandbox.json. A
 * measurement, never a test: it exits non-zero only when the run itself breaks.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GVISOR_RUNTIME, SANDBOXES, type Sandbox } from "../../infra/sandbox.ts";
import { type CommandResult, type Engine, TEST_IMAGE, startEngine, withScriptRun } from "../harness/index.ts";
import { table } from "../lib/console.ts";
import { summarize, timed } from "./stats.ts";

const OUTPUT = fileURLToPath(new URL("../../.local/bench/", import.meta.url));
const STARTS = 10;
const REPEATS = 3;
const CPU_LOOP = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";
const SYSCALL_BYTES = 100_000;
const NETWORK_MIB = 256;

type Figures = Record<"startMs" | "cpuMs" | "syscallMs" | "networkMiBs", number>;

const progress = (line: string) => console.log(`[bench:sandbox] ${line}`);

/** The median of `count` timings of `work`, in ms. */
async function median(count: number, work: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let index = 0; index < count; index++) samples.push(await timed(work));
  return summarize(samples).p50;
}

async function measure(sandbox: Sandbox): Promise<Figures> {
  progress(`${sandbox}: starting an engine`);
  const engine = await startEngine({ name: `bench-${sandbox}`, sandbox });
  try {
    const runtime = sandbox === "gvisor" ? ["--runtime", GVISOR_RUNTIME] : [];
    const docker = async (args: string[]): Promise<CommandResult> => {
      const result = await engine.docker(args, { timeoutMs: 300_000 });
      if (result.code !== 0) throw new Error(`docker ${args.join(" ")} (${sandbox}) exited ${result.code}: ${result.stderr}`);
      return result;
    };
    const startMs = await median(STARTS, () => docker(["run", "--rm", ...runtime, TEST_IMAGE, "true"]));
    await docker(["network", "create", "bench"]);
    for (const name of ["worker", "receiver"]) await docker(["run", "-d", ...runtime, "--network", "bench", "--name", name, TEST_IMAGE, "sleep", "3600"]);
    const exec = (script: string) => docker(["exec", "worker", "sh", "-c", script]);
    const emptyExecMs = await median(REPEATS, () => exec("true"));
    const cpuMs = (await median(REPEATS, () => exec(CPU_LOOP))) - emptyExecMs;
    const syscallMs = (await median(REPEATS, () => exec(`dd if=/dev/zero of=/dev/null bs=1 count=${SYSCALL_BYTES} 2>/dev/null`))) - emptyExecMs;
    const networkMiBs = await networkRate(engine, docker);
    const figures = { startMs, cpuMs, syscallMs, networkMiBs };
    progress(`${sandbox}: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    await engine.stop();
  }
}

/**
 * The rate of one container sending to the other through nc (the median of REPEATS transfers),
 * timed inside the sender by its /proc/uptime (Debian's busybox has neither dd's rate line nor
 * date's nanoseconds), from the first byte read to the last one written to the socket.
 */
async function networkRate(engine: Engine, docker: (args: string[]) => Promise<CommandResult>): Promise<number> {
  const rates: number[] = [];
  for (let index = 0; index < REPEATS; index++) {
    // nc ends a connection at the end of its own stdin: the receiver's must stay open.
    await docker(["exec", "-d", "receiver", "sh", "-c", "sleep 3600 | nc -l -p 5000 > /dev/null"]);
    const uptime = "cut -d' ' -f1 /proc/uptime";
    const sent = await docker([
      "exec",
      "worker",
      "sh",
      "-c",
      `sleep 0.5; a=$(${uptime}); dd if=/dev/zero bs=65536 count=${NETWORK_MIB * 16} 2>/dev/null | nc receiver 5000; b=$(${uptime}); echo "$a $b"`,
    ]);
    const [from, to] = sent.stdout.trim().split(" ").map(Number);
    const seconds = to! - from!;
    if (!(seconds > 0)) throw new Error(`no time for the transfer on ${engine.name}: ${sent.stdout}${sent.stderr}`);
    rates.push(NETWORK_MIB / seconds);
  }
  return summarize(rates).p50;
}

function report(results: Record<Sandbox, Figures>): string {
  const base = results.none;
  const cell = (value: number, baseline: number, unit: string, higherIsBetter = false) =>
    `${value.toFixed(unit === "MiB/s" ? 0 : 1)} ${unit} (${(higherIsBetter ? baseline / value : value / baseline).toFixed(2)}x)`;
  return table(
    [
      ["workload", ...SANDBOXES.map((sandbox) => (sandbox === "none" ? "runc" : sandbox))],
      ["container start (docker run --rm)", ...SANDBOXES.map((s) => cell(results[s].startMs, base.startMs, "ms"))],
      ["CPU loop (200k shell iterations)", ...SANDBOXES.map((s) => cell(results[s].cpuMs, base.cpuMs, "ms"))],
      [`syscalls (dd bs=1, ${SYSCALL_BYTES / 1000}k reads+writes)`, ...SANDBOXES.map((s) => cell(results[s].syscallMs, base.syscallMs, "ms"))],
      [`network, container to container (${NETWORK_MIB} MiB)`, ...SANDBOXES.map((s) => cell(results[s].networkMiBs, base.networkMiBs, "MiB/s", true))],
    ],
    { rule: true },
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the benchmark starts dockerd in a network namespace: run it as root");
  const loadAtStart = loadavg();
  const results = await withScriptRun(async () => {
    const figures = {} as Record<Sandbox, Figures>;
    for (const sandbox of SANDBOXES) figures[sandbox] = await measure(sandbox);
    return figures;
  });
  mkdirSync(OUTPUT, { recursive: true });
  const file = join(OUTPUT, "sandbox.json");
  writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), cpus: cpus().length, loadAtStart, loadAtEnd: loadavg(), results }, null, 2)}\n`);
  console.log(
    `\nberth sandbox benchmark: ${cpus().length} CPUs, load average ${loadAtStart[0]!.toFixed(2)} at the start; ratios are to runc (higher is slower)\n`,
  );
  console.log(report(results));
  console.log(`\nresults: ${file}`);
}

main().catch((error: unknown) => {
  console.error(`bench:sandbox: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
