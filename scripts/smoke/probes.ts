/**
 * The probes of the connectivity smoke test: the shell commands run on a cluster host (over SSH)
 * and how their output is judged, kept pure so they are unit-tested; plus the two probes that run
 * from the operator's machine (a plain TCP connect, which must NOT reach an engine, and the proxy's
 * `_ping` over TLS verified with the cluster's CA).
 */
import https from "node:https";
import net from "node:net";
import { shellQuote } from "./ssh.ts";

/** `address:port`, with brackets for IPv6. */
export function hostPort(address: string, port: number): string {
  return `${address.includes(":") ? `[${address}]` : address}:${port}`;
}

/** One ICMP echo; busybox's ping where iputils' is missing (the local cluster's hosts). */
export function pingCommand(address: string, waitSeconds: number): string {
  const args = `-c 1 -W ${waitSeconds} ${shellQuote(address)}`;
  return `if command -v ping >/dev/null 2>&1; then ping ${args}; else busybox ping ${args}; fi`;
}

/** A GET with curl on the host, failing on HTTP errors, bounded in time. */
export function curlCommand(url: string, maxSeconds: number): string {
  return `curl -fsS -m ${maxSeconds} ${shellQuote(url)}`;
}

/** A TCP connect from the host (bash's /dev/tcp: no nc needed on the VM). */
export function tcpProbeCommand(address: string, port: number, maxSeconds: number): string {
  return `timeout ${maxSeconds} bash -c ${shellQuote(`exec 3<>/dev/tcp/${address}/${port}`)}`;
}

/** An engine's `_ping` answers exactly OK. */
export function judgeEnginePing(body: string): string {
  if (body.trim() !== "OK") throw new Error(`_ping answered ${JSON.stringify(body.trim().slice(0, 80))}, not OK`);
  return "OK";
}

/** etcd's /health says `"health": "true"` (v3.4+); /version names the server version. */
export function judgeEtcd(path: "/health" | "/version", body: string): string {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw new Error(`${path} answered ${JSON.stringify(body.trim().slice(0, 80))}, not JSON`);
  }
  if (path === "/health") {
    if (parsed.health === "true" || parsed.health === true) return "health: true";
    throw new Error(`${path} answered ${body.trim().slice(0, 80)}`);
  }
  if (typeof parsed.etcdserver === "string") return `etcd ${parsed.etcdserver}`;
  throw new Error(`${path} answered ${body.trim().slice(0, 80)}`);
}

/**
 * An engine's `/info` on the current line: in the swarm, as its manager (the first node) or as a
 * worker that knows the manager (its RemoteManagers hold the manager's address).
 */
export function judgeSwarmMember(body: string, expected: { manager: true } | { manager: false; managerAddress: string }): string {
  let swarm: { LocalNodeState?: unknown; ControlAvailable?: unknown; NodeID?: unknown; RemoteManagers?: Array<{ Addr?: unknown }> | null };
  try {
    swarm = (JSON.parse(body) as { Swarm?: typeof swarm }).Swarm ?? {};
  } catch {
    throw new Error(`/info answered ${JSON.stringify(body.trim().slice(0, 80))}, not JSON`);
  }
  if (swarm.LocalNodeState !== "active") throw new Error(`not in a swarm (its state: ${String(swarm.LocalNodeState ?? "none")})`);
  if (expected.manager) {
    if (swarm.ControlAvailable !== true) throw new Error("in a swarm it does not manage: the first node is the swarm's manager");
    return `manager, node ${String(swarm.NodeID)}`;
  }
  if (swarm.ControlAvailable === true) throw new Error("a manager: only the first node manages the swarm");
  const managers = (swarm.RemoteManagers ?? []).map((one) => String(one.Addr));
  if (!managers.some((address) => address.startsWith(`${expected.managerAddress}:`)))
    throw new Error(`in a swarm managed by ${managers.join(", ") || "nobody"}, not by ${expected.managerAddress}`);
  return `worker of ${managers.join(", ")}`;
}

export type TcpOutcome = { open: true } | { open: false; why: string };

/** Tries a TCP connection from here; never rejects. */
export function tcpConnect(address: string, port: number, timeoutMs: number): Promise<TcpOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    const done = (outcome: TcpOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done({ open: false, why: `no answer within ${timeoutMs / 1000} s` }), timeoutMs);
    socket.once("connect", () => done({ open: true }));
    socket.once("error", (error: NodeJS.ErrnoException) => done({ open: false, why: error.code ?? error.message }));
  });
}

/** GET `<url>/_ping` over TLS, verifying the server with `caPem` only, on a connection of its own; resolves with the body of a 200. */
export function tlsPing(url: string, caPem: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(new URL("/_ping", url), { ca: caPem, timeout: timeoutMs, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${response.statusCode}: ${body.trim().slice(0, 80)}`))));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    request.on("error", reject);
  });
}
