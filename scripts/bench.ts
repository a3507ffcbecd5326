/**
 * `npm run bench`: what the tenant proxy costs, as a ratio to the same engine reached directly and
 * beside HAProxy as the cost of any proxy hop and a bare Node 18 pass-through as the floor for a
 * proxy written in Node, all four measured in one run on one real dockerd
 * 20.10 (the test harness's engine, in its own network namespace, never the machine's daemon). It
 * measures API calls, whole docker CLI commands, streams and 20 concurrent clients, then the
 * proxy's peak memory, then cluster mode (list fan-out over 1, 3 and 6 engines, create throughput;
 * creates with a filling cluster and after a restart, scripts/bench/creates.ts), prints each figure beside the target (PASS/MISS, never a failing
 * exit: it is a measurement), and writes .local/bench/results.json for the table in scripts/README.md. It exits
 * non-zero only when the run itself breaks; the harness run it lives in is released either way.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startEngine, withScriptRun, type Run } from "./harness/index.ts";
import { buildProxyBundle } from "./build-proxy.ts";
import { createFixture, LISTED_CONTAINERS } from "./bench/fixture.ts";
import { directPath, serverVersions, startHaproxy, startNodeHop, startTenantProxy, writeTenant } from "./bench/paths.ts";
import { type CaseResult, formatCaseLine, formatSummary, judgeRss, type Results, writeResults } from "./bench/report.ts";
import { createCases, type CreateResults, formatCreates } from "./bench/creates.ts";
import { fanOutCase, formatFanOut } from "./bench/fan-out.ts";
import { apiCases, cliCases, concurrencyCase, streamCases, type Workbench } from "./bench/workloads.ts";

const OUTPUT = fileURLToPath(new URL("../.local/bench/", import.meta.url));
const RSS_TARGET_MIB = 120;

const started = Date.now();
const progress = (line: string) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);

/** Peak resident memory of a process so far (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kib === undefined) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kib) / 1024;
}

async function measure(run: Run): Promise<Results & { creates: CreateResults }> {
  const dir = join(run.dir, "bench");
  mkdirSync(dir, { recursive: true });
  mkdirSync(OUTPUT, { recursive: true });
  const tenant = writeTenant(dir);
  progress("starting an engine and building the proxy bundle");
  const [engine, bundle] = await Promise.all([startEngine({ name: "bench-engine" }), buildProxyBundle(join(OUTPUT, "berth-proxy.cjs"))]);
  progress("starting HAProxy, the bare Node hop and the proxy bundle on Node 18");
  const haproxy = await startHaproxy(run, dir, engine);
  const nodeHop = await startNodeHop(run, dir, engine);
  const proxy = await startTenantProxy(run, dir, "bench-proxy", bundle, { BERTH_UPSTREAM: engine.host });
  const proxyRss = () => peakRssMiB(proxy.daemon.process.pid);
  const atStart = proxyRss();
  progress(`creating the tenant's ${LISTED_CONTAINERS} running containers, a 100 MiB log and a 512 MiB file, through the proxy`);
  const fixture = await createFixture(proxy.path, tenant);
  const afterCase: Record<string, number> = {};
  const finished = (result: CaseResult) => {
    afterCase[result.id] = proxyRss();
    result.loadAverage = loadavg()[0];
    progress(`  ${formatCaseLine(result)}; proxy VmHWM ${afterCase[result.id]!.toFixed(1)} MiB; load ${result.loadAverage!.toFixed(2)}`);
  };
  const bench: Workbench = { paths: [directPath(engine), haproxy, nodeHop, proxy.path], tenant, fixture, progress, finished };
  const loadAverageAtStart = loadavg();
  const cases = [...(await apiCases(bench)), ...(await cliCases(bench)), ...(await streamCases(bench)), await concurrencyCase(bench)];
  const rss = proxyRss();
  await Promise.all([proxy.daemon.stop(), engine.stop()]);
  const fanOut = await fanOutCase(run, dir, bundle, progress);
  const creates = await createCases(run, dir, bundle, progress);
  writeFileSync(join(OUTPUT, "creates.json"), `${JSON.stringify(creates, null, 2)}\n`);
  return {
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    machine: { cpus: cpus().length, loadAverageAtStart, loadAverageAtEnd: loadavg(), ...(await serverVersions()) },
    cases,
    proxyPeakRss: { mib: rss, verdict: judgeRss(rss, RSS_TARGET_MIB), atStart, afterCase },
    fanOut,
    creates,
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the benchmark starts dockerd in a network namespace: run it as root");
  const results = await withScriptRun(measure);
  const file = join(OUTPUT, "results.json");
  writeResults(file, results);
  const [one, five] = results.machine.loadAverageAtStart;
  console.log(
    `\nberth benchmark: engine (unix socket) vs HAProxy ${results.machine.haproxy.replace(/^HAProxy version (\S+).*/, "$1")} (HTTP mode, http-no-delay, Accept-Encoding dropped) vs a bare Node ${results.machine.proxyNode} pass-through vs tenant proxy (bundle on Node ${results.machine.proxyNode}, static tokens, multi-tenant)`,
  );
  console.log(
    `${results.machine.cpus} CPUs, load average ${one?.toFixed(2)} / ${five?.toFixed(2)} at the start, ${results.seconds} s in all; ratios are to the engine\n`,
  );
  console.log(formatSummary(results));
  console.log(`\n${formatFanOut(results.fanOut)}`);
  console.log(`\n${formatCreates(results.creates)}`);
  console.log(`\nresults: ${file}`);
}

main().catch((error) => {
  console.error(`bench failed: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
