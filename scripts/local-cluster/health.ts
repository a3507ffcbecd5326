/**
 * The local cluster's parts and whether each is healthy, for `status` and for `up` deciding
 * whether anything needs doing. A daemon is healthy when the very process the ledger recorded
 * still runs (PID and start time) and its service answers a client where the security groups admit
 * one: engines on their socket, etcd's v2 API and NFSv4 from a node's namespace, Keystone's /v3 and
 * the proxy's `_ping` (through TLS with the cluster's CA) from here, sshd's banner from the bastion.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ENGINE_PORT, ETCD_CLIENT_PORT } from "../../infra/ports.ts";
import { table } from "../lib/console.ts";
import { runCommand, jsonRequest, entries, type LedgerEntry, isRunning } from "../harness/index.ts";
import { enginePing, nfsAnswers, proxyPing, sshAnswers, succeedsIn, type ClusterHost } from "./daemons.ts";
import { SSH_PORT, type ClusterLayout } from "./layout.ts";
import type { TenantToken } from "./outputs.ts";

/** What `up` writes at its end; its presence means the cluster was once complete. */
export interface ClusterState {
  hosts: ClusterHost[];
  engines: Array<{ name: string; socketPath: string }>;
  keystoneUrl: string;
  endpoint: string;
  proxyPort: number;
  adminProjectId: string;
  tokens: TenantToken[];
}

const STATE_FILE = "cluster.json";

export function stateFile(layout: ClusterLayout): string {
  return join(layout.stateDir, STATE_FILE);
}

export function readState(layout: ClusterLayout): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(layout), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

export interface PartHealth {
  part: string;
  host: string;
  address: string;
  healthy: boolean;
  detail: string;
}

interface Probe {
  part: string;
  host: ClusterHost | undefined;
  /** The ledger id of its daemon, if it has one. */
  daemonId?: string;
  answers: () => Promise<boolean>;
  detail: string;
}

function probes(layout: ClusterLayout, state: ClusterState): Probe[] {
  const byRole = (role: ClusterHost["role"]) => state.hosts.filter((host) => host.role === role);
  const manager = byRole("manager")[0]!;
  const nfs = byRole("nfs")[0]!;
  const etcd = byRole("etcd")[0]!;
  const nodes = byRole("node");
  const keystonePort = Number(new URL(state.keystoneUrl).port);
  return [
    {
      part: "bridge",
      host: undefined,
      answers: async () => (await runCommand(["ip", "link", "show", layout.bridge])).code === 0,
      detail: `${layout.bridge} ${layout.subnet}`,
    },
    ...state.hosts.map((host) => ({ part: "namespace", host, answers: async () => existsSync(`/var/run/netns/${host.netns}`), detail: host.netns })),
    ...state.hosts.map((host) => ({
      part: "sshd",
      host,
      daemonId: `${host.name}.sshd`,
      answers: () => (host === manager ? sshAnswers(host.address) : sshAnswersFrom(manager, host.address)),
      detail: host === manager ? `ssh root@${host.address}` : `ssh root@${host.address} via ${manager.name}`,
    })),
    {
      part: "etcd",
      host: etcd,
      daemonId: `${etcd.name}.etcd`,
      answers: () => succeedsIn(nodes[0]!, ["curl", "-sf", "--max-time", "3", `http://${etcd.address}:${ETCD_CLIENT_PORT}/v2/keys/`]),
      detail: `http://${etcd.address}:${ETCD_CLIENT_PORT} (v2 API), from a node`,
    },
    { part: "nfs-ganesha", host: nfs, daemonId: `${nfs.name}.ganesha`, answers: () => nfsAnswers(nfs, nodes[0]!), detail: "NFSv4/TCP, read from a node" },
    ...state.engines.map((engine) => {
      const host = state.hosts.find((candidate) => candidate.name === engine.name)!;
      return {
        part: "dockerd",
        host,
        daemonId: `${host.name}.dockerd`,
        answers: () => enginePing(engine.socketPath).catch(() => false),
        detail: `tcp://${host.address}:${ENGINE_PORT}`,
      };
    }),
    { part: "keystone", host: manager, daemonId: "keystone", answers: () => keystoneAnswers(manager.address, keystonePort), detail: state.keystoneUrl },
    {
      part: "tenant proxy",
      host: manager,
      daemonId: `${manager.name}.proxy`,
      answers: () => proxyPing(manager.address, state.proxyPort, layout.caFile),
      detail: state.endpoint,
    },
  ];
}

/** sshd's banner, read from `from`'s namespace (the bastion: the others admit SSH from it only). */
export function sshAnswersFrom(from: ClusterHost, address: string): Promise<boolean> {
  return succeedsIn(from, ["timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${address}/${SSH_PORT} && head -c 7 <&3 | grep -q SSH-2.0`]);
}

async function keystoneAnswers(address: string, port: number): Promise<boolean> {
  return (await jsonRequest({ host: address, port }, "GET", "/v3", { timeoutMs: 5_000 }).catch(() => undefined))?.status === 200;
}

/** The ledger's daemon for an id; Keystone's id carries its directory's random suffix. */
function ledgerDaemon(ledger: LedgerEntry[], id: string): LedgerEntry | undefined {
  return ledger.find(
    (entry) => (entry.kind === "daemon" || entry.kind === "dockerd") && (entry.id === id || (id === "keystone" && entry.id.startsWith("keystone-"))),
  );
}

export async function checkHealth(layout: ClusterLayout, state: ClusterState): Promise<PartHealth[]> {
  const ledger = entries(layout.stateDir);
  return Promise.all(
    probes(layout, state).map(async (probe) => {
      const daemon = probe.daemonId ? ledgerDaemon(ledger, probe.daemonId) : undefined;
      const running = !probe.daemonId || (daemon !== undefined && "process" in daemon && isRunning(daemon.process));
      const answers = running && (await probe.answers());
      const why = !running ? "process not running" : answers ? "" : "not answering";
      const pid = daemon && "process" in daemon ? ` (pid ${daemon.process.pid})` : "";
      return {
        part: probe.part,
        host: probe.host?.name ?? "-",
        address: probe.host?.address ?? `${layout.subnetPrefix}.0.1`,
        healthy: answers,
        detail: `${probe.detail}${pid}${why ? ` — ${why}` : ""}`,
      };
    }),
  );
}

/** The ledger's daemon PIDs by id, so a test can tell that a second `up` restarted nothing. */
export function daemonPids(layout: ClusterLayout): Record<string, number> {
  return Object.fromEntries(
    entries(layout.stateDir).flatMap((entry) => (entry.kind === "daemon" || entry.kind === "dockerd" ? [[entry.id, entry.process.pid]] : [])),
  );
}

export function healthTable(parts: PartHealth[]): string {
  return table([["PART", "HOST", "ADDRESS", "STATE", "DETAIL"], ...parts.map((p) => [p.part, p.host, p.address, p.healthy ? "up" : "DOWN", p.detail])]);
}
