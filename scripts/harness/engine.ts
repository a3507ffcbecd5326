/**
 * A real dockerd 20.10 (or, with `line: "current"`, Debian 13's 26.1) per test "host", as the
 * docker nodes of a deployment would be: its own network namespace and address on the run's
 * bridge, its own hostname (so `docker info` shows a
 * distinct Name), its own key file (a distinct engine ID), data root, exec root and socket, and the
 * run's registry as an insecure registry. It is started through `nsenter --net` (`ip netns exec`
 * would remount /sys and hide the cgroups) and `unshare --uts --mount --propagation slave`: the
 * private mount namespace keeps the engine's overlay and namespace mounts out of the root
 * namespace, so they vanish with the engine even if it is killed, and nothing is left mounted
 * under a directory the harness wants to remove. The machine's own /var/lib/docker and
 * /var/run/docker.sock are never touched.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runDocker, succeeded, type CommandResult, type DockerCli } from "./commands.ts";
import { jsonRequest, type JsonResponse } from "./http.ts";
import { testImageTar } from "./images.ts";
import { record, type LedgerEntry } from "./ledger.ts";
import { createHost, type HostNamespace } from "./network.ts";
import { isRunning, spawnDaemon, waitFor } from "./processes.ts";
import { sharedRegistryAddress } from "./registry.ts";
import { release } from "./release.ts";
import { currentRun, type Run } from "./run.ts";
import { sandboxDockerFlags, sandboxRuntimes, type Sandbox } from "../../infra/sandbox.ts";
import { ensureRemapUser, testSandbox } from "./sandbox.ts";

const DOCKERD = "/usr/sbin/dockerd";
/**
 * A current engine starts in Debian 13's root, in its own mount namespace: the root bound onto
 * itself, the host's /proc, /sys (cgroups), /dev and /tmp (the run's directories, at the same paths)
 * bound in, a fresh /run, then made the namespace's root with `pivot_root` and the host's root
 * unmounted. A chroot is not enough: runc pivots a container's root in place of its caller's root
 * mount, so the container's mount namespace keeps the host's `/` as its root, and `docker exec`,
 * which joins that namespace, ran in the host's root (it wrote there; `docker diff` and `cp` in saw
 * nothing of it). The mounts are the namespace's alone and go with it.
 */
const IN_CURRENT_ROOT = [
  'hostname "$0" && root=$1 && shift',
  // The root must be a mount point: pivot_root needs one, and dockerd 26 makes / a slave mount.
  'mount --bind "$root" "$root"',
  'mount -t proc proc "$root/proc"',
  'mount --rbind /sys "$root/sys"',
  'mount --rbind /dev "$root/dev"',
  'mount --rbind /tmp "$root/tmp"',
  'mount -t tmpfs tmpfs "$root/run"',
  'cd "$root"',
  // The host's root goes to /mnt (empty in the trixie root) and is detached there, from inside.
  "pivot_root . mnt",
  'exec chroot . sh -c \'umount --lazy /mnt && exec "$@"\' sh "$@"',
].join(" && ");
const READY_TIMEOUT_MS = 60_000;
const DEFAULT_CLI: DockerCli = "docker28";

export interface Engine {
  /** The engine's hostname, which is its Name in `docker info`, e.g. "engine-12". */
  name: string;
  /** The network namespace it runs in. */
  netns: string;
  /** Its IPv4 address on the run's bridge. */
  address: string;
  /** Its unix socket; a file, so reachable from the root namespace. */
  socketPath: string;
  /** "unix://<socketPath>", for DOCKER_HOST. */
  host: string;
  /** "tcp://<address>:2375" when started with `tcp: true` (no TLS). */
  tcpHost?: string;
  /** dockerd's log (each API call it answers is in it when started with `--debug`). */
  logFile: string;
  /** A direct engine API call over the unix socket, not through any proxy. */
  api(method: string, path: string, body?: unknown): Promise<JsonResponse>;
  /** The docker CLI pointed straight at this engine (docker28 unless `cli` says otherwise). */
  docker(args: string[], opts?: { cli?: DockerCli; input?: string | Buffer; timeoutMs?: number }): Promise<CommandResult>;
  /** Stops dockerd and its containers, removes the namespace and the engine's directories. Idempotent. */
  stop(): Promise<void>;
  /** Freezes dockerd (SIGSTOP): the engine stops answering, as a hung node does, until resume(). */
  pause(): void;
  resume(): void;
}

export interface StartEngineOptions {
  /** Hostname and `docker info` Name; defaults to "engine-<n>", n unique within the run. */
  name?: string;
  /** Also listen on tcp://<address>:2375. */
  tcp?: boolean;
  /** Load TEST_IMAGE (default true). */
  images?: boolean;
  /** More dockerd flags, e.g. ["--icc=false"]. */
  extraArgs?: string[];
  /** Engine labels (`--label`), e.g. ["node=one"]. */
  labels?: string[];
  /** A key-value store (`etcd://ip:2379`) shared with other engines for overlay networks; implies tcp. */
  clusterStore?: string;
  /** The tenants' sandbox the engine is set up for (infra/sandbox.ts); default BERTH_TEST_SANDBOX. */
  sandbox?: Sandbox;
  /**
   * Which engine: "20.10", Debian 12's dockerd (the default), or "current", Debian 13's (26.1) run
   * from the root current-engine-root.sh builds. The current line has no cluster store (swarm
   * mode instead).
   */
  line?: EngineLine;
}

export type EngineLine = "20.10" | "current";

/** The engine line a run's engines default to: BERTH_TEST_ENGINE_LINE, else 20.10. */
export function testEngineLine(env: NodeJS.ProcessEnv = process.env): EngineLine {
  const raw = env.BERTH_TEST_ENGINE_LINE;
  if (raw === undefined || raw === "" || raw === "20.10") return "20.10";
  if (raw === "current") return "current";
  throw new Error(`BERTH_TEST_ENGINE_LINE: expected 20.10 or current, got "${raw}"`);
}

/** Debian 13's root with its docker.io (scripts/harness/current-engine-root.sh). */
export const CURRENT_ENGINE_ROOT = `${process.env.BERTH_CLOUD_CACHE ?? "/var/cache/berth"}/engine-trixie`;

export async function startEngine(opts: StartEngineOptions = {}): Promise<Engine> {
  const run = currentRun();
  const host = await createHost(run);
  const dir = join(run.dir, "engines", String(host.hostIndex));
  const name = opts.name ?? `engine-${host.hostIndex}`;
  const socketPath = join(dir, "docker.sock");
  const logFile = join(dir, "dockerd.log");
  const tcpHost = opts.tcp || opts.clusterStore ? `tcp://${host.address}:2375` : undefined;
  let dockerd: Extract<LedgerEntry, { kind: "dockerd" }> | undefined;
  let stopping: Promise<void> | undefined;

  const engine: Engine = {
    name,
    netns: host.netns,
    address: host.address,
    socketPath,
    host: `unix://${socketPath}`,
    ...(tcpHost ? { tcpHost } : {}),
    logFile,
    api: (method, path, body) => jsonRequest({ socketPath }, method, path, { body }),
    docker: (args, dockerOpts = {}) =>
      runDocker(dockerOpts.cli ?? DEFAULT_CLI, args, { host: engine.host, input: dockerOpts.input, timeoutMs: dockerOpts.timeoutMs }),
    pause: () => dockerd && process.kill(dockerd.process.pid, "SIGSTOP"),
    resume: () => dockerd && process.kill(dockerd.process.pid, "SIGCONT"),
    stop: () => {
      stopping ??= (async () => {
        engine.resume();
        if (dockerd) await release(run.dir, dockerd);
        await release(run.dir, host.entry);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };

  const current = (opts.line ?? testEngineLine()) === "current";
  const sandbox = opts.sandbox ?? testSandbox();
  if (current && opts.clusterStore) throw new Error("the current engine line has no cluster store: form a swarm instead");
  if (current && !existsSync(join(CURRENT_ENGINE_ROOT, ".berth-root-complete"))) {
    throw new Error(`no current engine root at ${CURRENT_ENGINE_ROOT}: run scripts/harness/current-engine-root.sh (install-deps.sh does)`);
  }
  // How dockerd is started in its namespaces: the shell's script and its arguments before dockerd's.
  const launch = current ? [IN_CURRENT_ROOT, name, CURRENT_ENGINE_ROOT] : ['hostname "$0" && exec "$@"', name];
  try {
    if (sandbox === "userns") await ensureRemapUser(current ? CURRENT_ENGINE_ROOT : "/");
    mkdirSync(dir, { recursive: true });
    // dockerd 23+ refuses the key path it no longer reads; its engine ID lives in its data root.
    const identity = current ? {} : { "deprecated-key-path": join(dir, "key.json") };
    writeFileSync(join(dir, "daemon.json"), JSON.stringify({ ...identity, runtimes: sandboxRuntimes(sandbox) }));
    const argv = [
      "nsenter",
      `--net=/var/run/netns/${host.netns}`,
      "unshare",
      "--uts",
      "--mount",
      "--propagation",
      "slave",
      "sh",
      "-c",
      ...launch,
      DOCKERD,
      ...dockerdFlags(run, host, dir, socketPath, tcpHost, opts),
      ...sandboxDockerFlags(sandbox),
    ];
    const daemon = await spawnDaemon(argv, { logFile });
    dockerd = { kind: "dockerd", id: `host-${host.hostIndex}.dockerd`, process: daemon, socketPath, netns: host.netns };
    record(run.dir, dockerd);
    await waitUntilAnswering(engine, dockerd, logFile);
    if (opts.images ?? true) succeeded(await engine.docker(["load", "-i", await testImageTar()]), `docker load on ${name}`);
    return engine;
  } catch (error) {
    await engine.stop();
    throw error;
  }
}

/** Starts several engines in parallel, each with a default name; if one fails, none is left running. */
export async function startEngines(count: number, opts: Omit<StartEngineOptions, "name"> = {}): Promise<Engine[]> {
  const outcomes = await Promise.allSettled(Array.from({ length: count }, () => startEngine(opts)));
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  const started = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
  if (!failure) return started;
  await Promise.all(started.map((engine) => engine.stop()));
  throw failure.reason;
}

function dockerdFlags(run: Run, host: HostNamespace, dir: string, socketPath: string, tcpHost: string | undefined, opts: StartEngineOptions): string[] {
  const registry = sharedRegistryAddress(run.dir);
  return [
    "--data-root",
    join(dir, "data"),
    "--exec-root",
    join(dir, "exec"),
    "--pidfile",
    join(dir, "dockerd.pid"),
    "--config-file",
    join(dir, "daemon.json"),
    "-H",
    `unix://${socketPath}`,
    ...(tcpHost ? ["-H", tcpHost, "--tls=false"] : []),
    // Distinct container subnets make container addresses unique across the run's first engines.
    "--bip",
    `172.17.${host.hostIndex % 256}.1/24`,
    ...(registry ? ["--insecure-registry", registry] : []),
    ...(opts.labels ?? []).flatMap((label) => ["--label", label]),
    ...(opts.clusterStore ? [`--cluster-store=${opts.clusterStore}`, `--cluster-advertise=${host.address}:2375`] : []),
    ...(opts.extraArgs ?? []),
  ];
}

async function waitUntilAnswering(engine: Engine, dockerd: Extract<LedgerEntry, { kind: "dockerd" }>, logFile: string): Promise<void> {
  let exited = false;
  const answering = await waitFor(
    async () => {
      exited = !isRunning(dockerd.process);
      if (exited) return true;
      try {
        return (await jsonRequest({ socketPath: engine.socketPath }, "GET", "/_ping", { timeoutMs: 1_000 })).status === 200;
      } catch {
        return false;
      }
    },
    READY_TIMEOUT_MS,
    100,
  );
  if (!answering || exited) {
    const log = readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n");
    throw new Error(`dockerd for ${engine.name} ${exited ? "exited" : `did not answer within ${READY_TIMEOUT_MS} ms`}; end of its log:\n${log}`);
  }
}
