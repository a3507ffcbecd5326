/**
 * The four ways the benchmark reaches one engine: straight to its unix socket, through HAProxy as
 * a plain HTTP pass-through (what any proxy hop costs), through a bare Node 18 pass-through (the
 * floor for a proxy written in Node), and through the tenant proxy as it runs in
 * production: the one-file bundle on Debian's Node 18, as its own process, multi-tenant, with a
 * static tokens file. HAProxy, the Node hop and the proxy are daemons in the run's ledger, so the run's release
 * stops them even if the benchmark dies half-way. Every path is handed the same client identity
 * (the tenant's headers), which the engine and HAProxy simply ignore, so clients differ only in
 * where they connect.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TENANT_HEADER, TOKEN_HEADER, writeDockerConfig } from "../lib/docker-config.ts";
import { PROXY_PROCESS } from "../../infra/roles.ts";
import { NODE18, NODE18_LIBS } from "../lib/node18.ts";
import { type Engine, type Run, type RunDaemon, freeLoopbackPort, runCommand, startRunDaemon, waitFor } from "../harness/index.ts";

export type PathName = "engine" | "haproxy" | "node" | "proxy";
export const PATH_NAMES: PathName[] = ["engine", "haproxy", "node", "proxy"];

export type HttpTarget = { socketPath: string } | { host: string; port: number };

export interface Path {
  name: PathName;
  /** Where API clients connect. */
  target: HttpTarget;
  /** DOCKER_HOST for the docker CLI. */
  dockerHost: string;
}

/** The benchmark's tenant, as a docker config dir and as the headers API clients send. */
export interface Tenant {
  token: string;
  tenant: string;
  headers: Record<string, string>;
  configDir: string;
}

const HAPROXY = "/usr/sbin/haproxy";
const NODE_HOP = fileURLToPath(new URL("./node-hop.cjs", import.meta.url));
const READY_TIMEOUT_MS = 30_000;

export function directPath(engine: Engine): Path {
  return { name: "engine", target: { socketPath: engine.socketPath }, dockerHost: engine.host };
}

export function writeTenant(dir: string, name = "bench-tenant"): Tenant {
  const tenant = { token: `${name}-token-0123456789`, tenant: name };
  const headers = { [TOKEN_HEADER]: tenant.token, [TENANT_HEADER]: tenant.tenant };
  const configDir = join(dir, "docker-config");
  writeDockerConfig(configDir, { token: tenant.token, tenantId: tenant.tenant });
  writeFileSync(join(dir, "tokens.json"), JSON.stringify([{ ...tenant, user: "bench-user" }]));
  return { ...tenant, headers, configDir };
}

/**
 * HAProxy in HTTP mode on a loopback port, keep-alive both sides, tunnelling upgrades (attach).
 * `http-no-delay` because Docker's attach and wait are interactive: without it HAProxy corks small
 * sends (MSG_MORE) and `docker run` waits up to 200 ms for the last bytes of a stream.
 * `Accept-Encoding` is dropped, as the tenant proxy drops it: over TCP the docker CLI asks for gzip,
 * and passed on, the engine would gzip `docker cp` and the figure would measure gzip, not the hop.
 */
export async function startHaproxy(run: Run, dir: string, engine: Engine): Promise<Path> {
  const port = await freeLoopbackPort();
  const config = join(dir, "haproxy.cfg");
  writeFileSync(
    config,
    [
      "global",
      "  maxconn 4096",
      "defaults",
      "  mode http",
      "  option http-no-delay",
      "  timeout connect 5s",
      "  timeout client 1h",
      "  timeout server 1h",
      "  timeout tunnel 1h",
      "frontend bench",
      `  bind 127.0.0.1:${port}`,
      "  http-request del-header Accept-Encoding",
      "  default_backend engine",
      "backend engine",
      `  server engine unix@${engine.socketPath}`,
      "",
    ].join("\n"),
  );
  await startRunDaemon(run, "bench-haproxy", [HAPROXY, "-db", "-f", config], { logFile: join(dir, "haproxy.log") });
  const path: Path = { name: "haproxy", target: { host: "127.0.0.1", port }, dockerHost: `tcp://127.0.0.1:${port}` };
  await waitUntilPinged(path, join(dir, "haproxy.log"));
  return path;
}

/** The bare Node 18 pass-through of node-hop.cjs in front of the engine's socket. */
export async function startNodeHop(run: Run, dir: string, engine: Engine): Promise<Path> {
  const logFile = join(dir, "node-hop.log");
  await startRunDaemon(run, "bench-node-hop", [NODE18, NODE_HOP, engine.socketPath], {
    logFile,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LD_LIBRARY_PATH: NODE18_LIBS },
  });
  const listeningPort = () => Number(/^listening (\d+)/m.exec(readFileSync(logFile, "utf8"))?.[1] ?? Number.NaN);
  const listening = await waitFor(() => listeningPort() > 0, READY_TIMEOUT_MS, 50);
  const port = listeningPort();
  if (!listening || !(port > 0)) throw new Error(`the Node hop did not start within ${READY_TIMEOUT_MS} ms; its log:\n${logTail(logFile)}`);
  const path: Path = { name: "node", target: { host: "127.0.0.1", port }, dockerHost: `tcp://127.0.0.1:${port}` };
  await waitUntilPinged(path, logFile);
  return path;
}

/**
 * The proxy bundle on Node 18 as the manager's unit runs it (PROXY_PROCESS: Node's flags and the
 * malloc tuning), with the BERTH_* settings an operator would write, the tokens of writeTenant(dir),
 * and `upstream`: BERTH_UPSTREAM for one engine, or a nodes file for a cluster.
 */
export async function startTenantProxy(
  run: Run,
  dir: string,
  id: string,
  bundle: string,
  upstream: Record<string, string>,
): Promise<{ path: Path; daemon: RunDaemon }> {
  if (!existsSync(NODE18)) throw new Error(`Debian's Node 18 is missing at ${NODE18}: run scripts/install-deps.sh`);
  const logFile = join(dir, `${id}.log`);
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    LD_LIBRARY_PATH: NODE18_LIBS,
    BERTH_LISTEN: "127.0.0.1:0",
    BERTH_AUTH_BACKEND: "static",
    BERTH_TOKENS_FILE: join(dir, "tokens.json"),
    SWARM_MULTI_TENANT: "true",
    ...PROXY_PROCESS.environment,
    ...upstream,
  };
  const daemon = await startRunDaemon(run, id, [NODE18, ...PROXY_PROCESS.nodeFlags, bundle], { logFile, env });
  let port: number | undefined;
  const listening = await waitFor(
    () => {
      port = listeningPort(logFile);
      return port !== undefined;
    },
    READY_TIMEOUT_MS,
    50,
  );
  if (!listening || port === undefined) throw new Error(`the proxy did not start within ${READY_TIMEOUT_MS} ms; its log:\n${logTail(logFile)}`);
  const path: Path = { name: "proxy", target: { host: "127.0.0.1", port }, dockerHost: `tcp://127.0.0.1:${port}` };
  await waitUntilPinged(path, logFile);
  return { path, daemon };
}

/** The versions of what the proxy path and the HAProxy path run, for the record. */
export async function serverVersions(): Promise<{ proxyNode: string; haproxy: string }> {
  const [node, haproxy] = await Promise.all([runCommand([NODE18, "--version"], { env: { LD_LIBRARY_PATH: NODE18_LIBS } }), runCommand([HAPROXY, "-v"])]);
  return { proxyNode: node.stdout.trim(), haproxy: haproxy.stdout.split("\n")[0]!.trim() };
}

/** The port in the proxy's start-up line `{"message":"berth tenant proxy listening","listen":"http://127.0.0.1:<port>"}`. */
function listeningPort(logFile: string): number | undefined {
  const match = /"listen":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(readFileSync(logFile, "utf8"));
  return match ? Number(match[1]) : undefined;
}

async function waitUntilPinged(path: Path, logFile: string): Promise<void> {
  const { host, port } = path.target as { host: string; port: number };
  const pinged = () =>
    fetch(`http://${host}:${port}/_ping`).then(
      (res) => res.ok,
      () => false,
    );
  if (!(await waitFor(pinged, READY_TIMEOUT_MS, 100))) throw new Error(`${path.name} does not answer /_ping on port ${port}; its log:\n${logTail(logFile)}`);
}

function logTail(logFile: string): string {
  return existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n") : "(no log)";
}
