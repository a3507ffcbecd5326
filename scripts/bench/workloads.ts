/**
 * The workload, measured the same way on every path. Sequential cases interleave the paths call by
 * call (engine, HAProxy, proxy, then the next round starting one path further), so a burst of
 * background load on this shared 2-core machine falls on all three alike instead of on whichever
 * path ran during it. Iterations are bounded so a whole run stays within a few minutes. Every
 * answer is checked (status, or the bytes a stream delivered): a path that answers wrong breaks
 * the run instead of producing a figure.
 */
import { DOCKER_CLIS, TEST_IMAGE, runCommand, runDocker } from "../harness/index.ts";
import { ApiClient } from "./api.ts";
import { CP_BYTES, type Fixture, LISTED_CONTAINERS, LOG_BYTES, MIB } from "./fixture.ts";
import { type Path, PATH_NAMES, type PathName, type Tenant } from "./paths.ts";
import { addsAtMost, addsAtMostOver, type CaseResult, type PathFigures, ratioAtLeast, ratioAtMost, type Target } from "./report.ts";
import { summarize, timed } from "./stats.ts";

/** Rounds per path, bounded so a whole run stays within about five minutes on a 2-core machine. */
const ROUNDS = { api: 200, lifecycle: 25, cli: 30, cliRun: 20, warmup: 3, logs: 3, cp: 3 };
const CONCURRENCY = { clients: 20, rounds: 4, callsPerClientPerRound: 10 };
/** Earlier targets: a control call adds at most 1 ms p50, CLI commands at most 1.10x, streams keep 0.85x. */
/** Issue 13: inspect within 0.1 ms of the bare Node hop, a list of 200 at most 1 ms over the engine's own label-filtered list. */
const TARGETS = { apiAddedMs: 1, inspectOverNodeMs: 0.1, listAddedMs: 1, cliRatio: 1.1, streamRatio: 0.85 };

export interface Workbench {
  paths: Path[];
  tenant: Tenant;
  fixture: Fixture;
  progress(line: string): void;
  /** Called as each case ends. */
  finished(result: CaseResult): void;
}

type Samples = Record<PathName, number[]>;

/**
 * The engine's name for the tenant's own bridge, which every container the proxy creates joins
 * (made by the fixture's creates): the direct paths' creates join it too, so a case compares the
 * hop and not docker0 with a user-defined bridge, whose start costs more.
 */
const tenantBridge = (tenant: Tenant) => `${tenant.tenant}_bridge`;

export async function apiCases(bench: Workbench): Promise<CaseResult[]> {
  const { fixture } = bench;
  const clients = perPath(bench, (path) => new ApiClient(path.target, bench.tenant.headers));
  try {
    for (const path of bench.paths) {
      const listed = await clients[path.name].json<unknown[]>("GET", "/containers/json");
      if (listed.length !== LISTED_CONTAINERS) throw new Error(`${path.name} lists ${listed.length} containers, not ${LISTED_CONTAINERS}`);
    }
    // What the engine does for the proxy's own list: only the tenant's containers.
    const ownerFilteredList = `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: [`berth.tenant=${bench.tenant.tenant}`] }))}`;
    // What the engine does for the proxy's create.
    const created = { Image: TEST_IMAGE, Cmd: ["true"] };
    const onTenantBridge = { ...created, HostConfig: { NetworkMode: tenantBridge(bench.tenant) } };
    const steps = new StepTimes();
    const lifecycle = async (path: Path) => {
      const client = clients[path.name];
      let id = "";
      await steps.time(path.name, "create", async () => {
        id = (await client.json<{ Id: string }>("POST", "/containers/create", path.name === "proxy" ? created : onTenantBridge)).Id;
      });
      await steps.time(path.name, "start", () => client.call("POST", `/containers/${id}/start`));
      await steps.time(path.name, "wait", () => client.call("POST", `/containers/${id}/wait`));
      await steps.time(path.name, "rm", () => client.call("DELETE", `/containers/${id}`));
    };
    return [
      await latencyCase(
        bench,
        "api.list",
        `API GET /containers/json (${LISTED_CONTAINERS}; engine, HAProxy, Node: label-filtered)`,
        ROUNDS.api,
        addsAtMost(TARGETS.listAddedMs),
        (path) => timed(() => clients[path.name].call("GET", path.name === "proxy" ? "/containers/json" : ownerFilteredList)),
      ),
      await latencyCase(bench, "api.inspect", "API GET /containers/{id}/json", ROUNDS.api, addsAtMostOver("node", TARGETS.inspectOverNodeMs), (path) =>
        timed(() => clients[path.name].call("GET", `/containers/${fixture.inspectId}/json`)),
      ),
      await latencyCase(bench, "api.inspect-prefix", "API GET /containers/{12-hex id prefix}/json", ROUNDS.api, undefined, (path) =>
        timed(() => clients[path.name].call("GET", `/containers/${fixture.inspectId.slice(0, 12)}/json`)),
      ),
      await latencyCase(
        bench,
        "api.lifecycle",
        "API create+start+wait+rm (4 calls; engine, HAProxy, Node: on the tenant's bridge)",
        ROUNDS.lifecycle,
        addsAtMost(TARGETS.apiAddedMs, 4),
        (path) => timed(() => lifecycle(path)),
        steps,
      ),
    ];
  } finally {
    Object.values(clients).forEach((client) => client.close());
  }
}

export async function cliCases(bench: Workbench): Promise<CaseResult[]> {
  const docker = async (path: Path, args: string[]) => {
    const result = await runDocker("docker28", args, { host: path.dockerHost, configDir: bench.tenant.configDir });
    if (result.code !== 0) throw new Error(`docker ${args.join(" ")} via ${path.name} exited with ${result.code}: ${result.stderr.trim()}`);
    return result.stdout;
  };
  for (const path of bench.paths) {
    const rows = (await docker(path, ["ps", "-q"])).trim().split("\n").length;
    if (rows !== LISTED_CONTAINERS) throw new Error(`docker ps via ${path.name} shows ${rows} containers, not ${LISTED_CONTAINERS}`);
  }
  const target = ratioAtMost(TARGETS.cliRatio);
  return [
    await latencyCase(bench, "cli.ps", `CLI docker ps (${LISTED_CONTAINERS})`, ROUNDS.cli, target, (path) => timed(() => docker(path, ["ps"]))),
    await latencyCase(bench, "cli.inspect", "CLI docker inspect", ROUNDS.cli, target, (path) =>
      timed(() => docker(path, ["inspect", bench.fixture.inspectId])),
    ),
    await latencyCase(bench, "cli.run", "CLI docker run --rm image true (engine, HAProxy, Node: on the tenant's bridge)", ROUNDS.cliRun, target, (path) =>
      timed(() => docker(path, ["run", "--rm", ...(path.name === "proxy" ? [] : ["--network", tenantBridge(bench.tenant)]), TEST_IMAGE, "true"])),
    ),
  ];
}

export async function streamCases(bench: Workbench): Promise<CaseResult[]> {
  const { logsId, cpId } = bench.fixture;
  return [
    await throughputCase(bench, "streams.logs", "docker logs (100 MiB)", ROUNDS.logs, LOG_BYTES, (path) =>
      streamedBytes(bench, path, `"$0" logs ${logsId} | wc -c`, (bytes) => bytes === LOG_BYTES),
    ),
    await throughputCase(bench, "streams.cp", "docker cp out (512 MiB file)", ROUNDS.cp, CP_BYTES, (path) =>
      streamedBytes(bench, path, `"$0" cp ${cpId}:/big.bin - | wc -c`, (bytes) => bytes > CP_BYTES && bytes < CP_BYTES + MIB),
    ),
  ];
}

/**
 * Each client alternates inspect and list on its own kept-alive connection. The paths take turns
 * in rounds, as in the sequential cases, with fresh connections each turn (connected before the
 * clock starts, so no idle connection is closed under them); a path's throughput is its calls over
 * its own wall time.
 */
export async function concurrencyCase(bench: Workbench): Promise<CaseResult> {
  const title = `${CONCURRENCY.clients} clients, inspect/list loop`;
  bench.progress(`${title}: ${CONCURRENCY.rounds} rounds of ${CONCURRENCY.clients} x ${CONCURRENCY.callsPerClientPerRound} calls per path`);
  const latencies: Samples = perName(() => []);
  const wall: Record<PathName, number> = perName(() => 0);
  await inTurns(bench.paths, CONCURRENCY.rounds, async (path) => {
    wall[path.name] += await concurrentBurst(bench, path, latencies[path.name]);
  });
  const paths = mapPaths(latencies, (samples): PathFigures => summarize(samples));
  for (const path of bench.paths) paths[path.name].opsPerSec = latencies[path.name].length / (wall[path.name] / 1000);
  const result: CaseResult = { id: "concurrency.inspect-list", title, unit: "ms", tail: "p99", paths };
  bench.finished(result);
  return result;
}

/** One turn of the concurrent clients on one path; adds their latencies and returns the turn's wall time. */
async function concurrentBurst(bench: Workbench, path: Path, latencies: number[]): Promise<number> {
  const clients = Array.from({ length: CONCURRENCY.clients }, () => new ApiClient(path.target, bench.tenant.headers));
  const inspect = (client: ApiClient) => client.call("GET", `/containers/${bench.fixture.inspectId}/json`);
  const list = (client: ApiClient) => client.call("GET", "/containers/json");
  try {
    await Promise.all(clients.map(inspect));
    return await timed(() =>
      Promise.all(
        clients.map(async (client, offset) => {
          for (let op = 0; op < CONCURRENCY.callsPerClientPerRound; op++)
            latencies.push(await timed(() => ((op + offset) % 2 ? list(client) : inspect(client))));
        }),
      ),
    );
  } finally {
    clients.forEach((client) => client.close());
  }
}

/** Per-call times inside a multi-call sample, so a result says which call the added time is in. */
class StepTimes {
  private readonly samples = new Map<string, Samples>();

  async time(path: PathName, step: string, work: () => Promise<unknown>): Promise<void> {
    if (!this.samples.has(step))
      this.samples.set(
        step,
        perName(() => []),
      );
    this.samples.get(step)![path].push(await timed(work));
  }

  /** Each step's p50 per path, leaving out the first `warmup` samples of every path. */
  p50s(warmup: number): Record<string, Record<PathName, number>> {
    const p50 = (samples: number[]) => summarize(samples.slice(warmup)).p50;
    return Object.fromEntries([...this.samples].map(([step, samples]) => [step, mapPaths(samples, p50)]));
  }
}

async function latencyCase(
  bench: Workbench,
  id: string,
  title: string,
  rounds: number,
  target: Target | undefined,
  sample: (path: Path) => Promise<number>,
  steps?: StepTimes,
): Promise<CaseResult> {
  bench.progress(`${title}: ${rounds} rounds`);
  const samples = await interleaved(bench.paths, rounds, sample);
  const paths = mapPaths(samples, summarize);
  const result: CaseResult = {
    id,
    title,
    unit: "ms",
    tail: "p90",
    paths,
    ...(target ? { verdict: target(paths) } : {}),
    ...(steps ? { steps: steps.p50s(ROUNDS.warmup) } : {}),
  };
  bench.finished(result);
  return result;
}

/** Durations become throughputs: the p50 is the throughput of the median run, the p90 that of the slow tail. */
async function throughputCase(
  bench: Workbench,
  id: string,
  title: string,
  rounds: number,
  bytes: number,
  sample: (path: Path) => Promise<number>,
): Promise<CaseResult> {
  bench.progress(`${title}: ${rounds} rounds`);
  const samples = await interleaved(bench.paths, rounds, sample, 0);
  const rate = (ms: number) => bytes / MIB / (ms / 1000);
  const paths = mapPaths(samples, (durations) => {
    const { n, p50, p90, p99 } = summarize(durations);
    return { n, p50: rate(p50), p90: rate(p90), p99: rate(p99) };
  });
  const result: CaseResult = { id, title, unit: "MiB/s", tail: "p90", paths, verdict: ratioAtLeast(TARGETS.streamRatio)(paths) };
  bench.finished(result);
  return result;
}

/** Runs a docker CLI pipeline ending in `wc -c` and returns how long it took, once the byte count checks out. */
async function streamedBytes(bench: Workbench, path: Path, pipeline: string, complete: (bytes: number) => boolean): Promise<number> {
  let output = "";
  const ms = await timed(async () => {
    const result = await runCommand(["sh", "-c", pipeline, DOCKER_CLIS.docker28], {
      env: { DOCKER_HOST: path.dockerHost, DOCKER_CONFIG: bench.tenant.configDir },
      timeoutMs: 300_000,
    });
    output = `${result.stdout.trim()} ${result.stderr.trim()}`.trim();
  });
  if (!complete(Number(output))) throw new Error(`${pipeline.replace('"$0"', "docker")} via ${path.name} delivered: ${output}`);
  return ms;
}

/** Every path takes one turn per round, each round starting one path further. */
async function inTurns(paths: Path[], rounds: number, turn: (path: Path, round: number) => Promise<void>): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (let step = 0; step < paths.length; step++) await turn(paths[(round + step) % paths.length]!, round);
  }
}

/** Samples every path once per round, in turns; warm-up rounds are not kept. */
async function interleaved(paths: Path[], rounds: number, sample: (path: Path) => Promise<number>, warmup = ROUNDS.warmup): Promise<Samples> {
  const samples: Samples = perName(() => []);
  await inTurns(paths, warmup + rounds, async (path, round) => {
    const ms = await sample(path);
    if (round >= warmup) samples[path.name].push(ms);
  });
  return samples;
}

function perPath<T>(bench: Workbench, make: (path: Path) => T): Record<PathName, T> {
  return Object.fromEntries(bench.paths.map((path) => [path.name, make(path)])) as Record<PathName, T>;
}

function perName<T>(make: (name: PathName) => T): Record<PathName, T> {
  return Object.fromEntries(PATH_NAMES.map((name) => [name, make(name)])) as Record<PathName, T>;
}

function mapPaths<A, B>(values: Record<PathName, A>, map: (value: A) => B): Record<PathName, B> {
  return perName((name) => map(values[name]));
}
