/**
 * The security-group tables: the admin guide's steps 2, 4, 6 and 9, tightened. Only the manager
 * faces the operator and the tenants; every other VM admits SSH from the manager alone (it is the
 * bastion), and the cluster's own ports (engine API, overlay, NFS, etcd) admit only the groups that
 * use them, never an address range. Pure data, so the table can be reviewed and tested as a table.
 */
import {
  CONTAINER_PORTS,
  ENGINE_PORT,
  ETCD_CLIENT_PORT,
  ETCD_LEGACY_CLIENT_PORT,
  ETCD_PEER_PORT,
  NFS_PORT,
  OVERLAY_CONTROL_PORT,
  OVERLAY_DATA_PORT,
  SSH_PORT,
  SWARM_MANAGEMENT_PORT,
} from "./ports.ts";
import type { EngineLine } from "./engine-line.ts";
import type { Cidr } from "./net.ts";

export const GROUP_ROLES = ["manager", "node", "nfs", "etcd"] as const;
export type GroupRole = (typeof GROUP_ROLES)[number];

export type RuleSource = { cidr: Cidr } | { group: GroupRole };

export interface RuleSpec {
  /** Names the rule's resource; derived from what the rule admits, so adding a rule renames none. */
  key: string;
  description: string;
  protocol: "tcp" | "udp" | "icmp";
  /** Absent for ICMP: every type, so path-MTU discovery keeps working. */
  ports?: { min: number; max: number };
  source: RuleSource;
}

export interface RuleTableInput {
  /** Who may SSH to the manager (the bastion). */
  sshCidrs: Cidr[];
  /** Who may reach the tenant proxy. */
  proxyCidrs: Cidr[];
  /** Who may reach published container ports on the nodes. */
  containerCidrs: Cidr[];
  proxyPort: number;
  /** The engine line: the 20.10 line has an etcd VM; the current line's nodes form a swarm instead. */
  line: EngineLine;
}

/** The groups of a stack: one per kind of VM it has. */
export type GroupRules = { [R in GroupRole]?: RuleSpec[] };

const GROUP_LABEL: Record<GroupRole, string> = {
  manager: "the manager",
  node: "the docker nodes",
  nfs: "the NFS server",
  etcd: "the etcd server",
};

function cidrKey(cidr: Cidr): string {
  return cidr.text.replace(/[^0-9a-fA-F]+/g, "-").replace(/^-+|-+$/g, "");
}

function sourceKey(source: RuleSource): string {
  return "cidr" in source ? cidrKey(source.cidr) : `${source.group}-group`;
}

function sourceLabel(source: RuleSource): string {
  return "cidr" in source ? source.cidr.text : GROUP_LABEL[source.group];
}

function port(service: string, protocol: "tcp" | "udp", min: number, max: number, source: RuleSource, why: string): RuleSpec {
  return {
    key: `${service}-${protocol}-from-${sourceKey(source)}`,
    description: `${why}, from ${sourceLabel(source)}`,
    protocol,
    ports: { min, max },
    source,
  };
}

function ping(source: RuleSource): RuleSpec {
  return { key: `icmp-from-${sourceKey(source)}`, description: `ICMP (ping, path MTU) from ${sourceLabel(source)}`, protocol: "icmp", source };
}

function uniqueCidrs(cidrs: Cidr[]): Cidr[] {
  return [...new Map(cidrs.map((cidr) => [cidr.text, cidr])).values()];
}

/** SSH from the bastion and ICMP from the manager and the nodes: what every non-manager VM admits. */
function inCluster(): RuleSpec[] {
  const manager: RuleSource = { group: "manager" };
  return [port("ssh", "tcp", SSH_PORT, SSH_PORT, manager, "SSH through the bastion"), ping(manager), ping({ group: "node" })];
}

export function securityGroupRules(input: RuleTableInput): GroupRules {
  const nodes: RuleSource = { group: "node" };
  const manager = [
    ...input.sshCidrs.map((cidr) => port("ssh", "tcp", SSH_PORT, SSH_PORT, { cidr }, "SSH to the manager, the bastion for every VM")),
    ...input.proxyCidrs.map((cidr) => port("proxy", "tcp", input.proxyPort, input.proxyPort, { cidr }, "The tenant proxy (Docker API over TLS)")),
    ...uniqueCidrs([...input.sshCidrs, ...input.proxyCidrs]).map((cidr) => ping({ cidr })),
  ];
  const node = [
    ...inCluster(),
    port("engine", "tcp", ENGINE_PORT, ENGINE_PORT, { group: "manager" }, "The docker engine API, for the tenant proxy only"),
    ...input.containerCidrs.flatMap((cidr) =>
      (["tcp", "udp"] as const).map((protocol) =>
        port("containers", protocol, CONTAINER_PORTS.min, CONTAINER_PORTS.max, { cidr }, "Container ports docker assigns"),
      ),
    ),
    port("overlay-control", "tcp", OVERLAY_CONTROL_PORT, OVERLAY_CONTROL_PORT, nodes, "Overlay network control plane"),
    port("overlay-control", "udp", OVERLAY_CONTROL_PORT, OVERLAY_CONTROL_PORT, nodes, "Overlay network control plane"),
    port("overlay-data", "udp", OVERLAY_DATA_PORT, OVERLAY_DATA_PORT, nodes, "Overlay network data plane (VXLAN)"),
    ...(input.line === "current"
      ? [port("swarm", "tcp", SWARM_MANAGEMENT_PORT, SWARM_MANAGEMENT_PORT, nodes, "The swarm's management API (the workers' manager)")]
      : []),
  ];
  const nfs = [
    ...inCluster(),
    port("nfs", "tcp", NFS_PORT, NFS_PORT, nodes, "NFS volumes"),
    port("nfs", "udp", NFS_PORT, NFS_PORT, nodes, "NFS volumes"),
    port("nfs", "tcp", NFS_PORT, NFS_PORT, { group: "manager" }, "NFS volumes: the proxy makes the tenants' volume directories"),
  ];
  const etcd = [
    ...inCluster(),
    port("etcd-client", "tcp", ETCD_CLIENT_PORT, ETCD_CLIENT_PORT, nodes, "etcd client API for the engines' --cluster-store"),
    port("etcd-legacy-client", "tcp", ETCD_LEGACY_CLIENT_PORT, ETCD_LEGACY_CLIENT_PORT, nodes, "etcd legacy client port (admin guide step 11)"),
    port("etcd-peer", "tcp", ETCD_PEER_PORT, ETCD_PEER_PORT, { group: "etcd" }, "etcd peer traffic between etcd members"),
  ];
  return input.line === "20.10" ? { manager, node, nfs, etcd } : { manager, node, nfs };
}
