/**
 * Where the local cluster lives: its folders, its bridge and its subnet, and the hosts it stands
 * up. The defaults give a developer's cluster in the repository's ignored .local/ on 10.212.0.0/16
 * (the test harness's runs use 10.213.0.0/16 and up); BERTH_LOCAL_DIR, BERTH_CLUSTER_BRIDGE,
 * BERTH_CLUSTER_SUBNET and BERTH_CLUSTER_NETNS_PREFIX move all of it, so a test can run a second
 * cluster beside a developer's without touching it. BERTH_SANDBOX (none, userns, gvisor) is the
 * stack's berth:sandbox for the local cluster's engines and proxy.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SSH_PORT } from "../../infra/ports.ts";
import type { Role } from "../../infra/render.ts";
import { type Sandbox, sandboxSchema } from "../../infra/sandbox.ts";

export { SSH_PORT };

const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));

export interface ClusterLayout {
  /** The tenants' sandbox (BERTH_SANDBOX), as berth:sandbox sets it for a stack. */
  sandbox: Sandbox;
  /** The ignored output folder: inventory.json, env, tenants/, tls/, ssh/, cluster/. */
  localDir: string;
  /** Daemons' state, configs and logs, and the ledger `down` works from. */
  stateDir: string;
  tlsDir: string;
  /** The CA tenants and the smoke scripts verify the proxy with (made by `up` in tlsDir). */
  caFile: string;
  sshDir: string;
  tenantsDir: string;
  inventoryFile: string;
  envFile: string;
  passwordsFile: string;
  bridge: string;
  /** e.g. "10.212.0.0/16" */
  subnet: string;
  /** The first two octets, e.g. "10.212"; the bridge is .0.1, hosts .0.10 and up. */
  subnetPrefix: string;
  netnsPrefix: string;
  repository: string;
}

export interface HostSpec {
  /** Hostname, and (with the prefix) the network namespace's name. */
  name: string;
  role: Role;
}

/** In creation order, which gives the addresses .0.10, .0.11, ... */
export const HOSTS: readonly HostSpec[] = [
  { name: "berth-manager", role: "manager" },
  { name: "docker-host-1", role: "node" },
  { name: "docker-host-2", role: "node" },
  { name: "berth-nfs", role: "nfs" },
  { name: "berth-etcd", role: "etcd" },
];

export const TENANTS = [
  { project: "docker-tenant-1", users: ["docker-user-1"] },
  { project: "docker-tenant-2", users: ["docker-user-2", "docker-user-3"] },
  { project: "docker-admin", users: ["docker-admin"], admin: true },
] as const;

export const KEYSTONE_PORT = 5000;
/** A week, so tenants' config dirs keep working; `up` renews tokens that expire within a day. */
export const TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600;
export const TOKEN_RENEWAL_MS = 24 * 3600 * 1000;

const DEFAULTS = { bridge: "berth-local", subnet: "10.212.0.0/16", netnsPrefix: "" };

export function clusterLayout(env: NodeJS.ProcessEnv = process.env): ClusterLayout {
  const localDir = env.BERTH_LOCAL_DIR || join(REPOSITORY, ".local");
  const bridge = env.BERTH_CLUSTER_BRIDGE || DEFAULTS.bridge;
  if (!/^[a-z][a-z0-9-]{0,14}$/.test(bridge)) throw new Error(`BERTH_CLUSTER_BRIDGE: "${bridge}" is not a bridge name (lower case, at most 15 characters)`);
  const subnet = env.BERTH_CLUSTER_SUBNET || DEFAULTS.subnet;
  const match = /^10\.(\d{1,3})\.0\.0\/16$/.exec(subnet);
  if (!match || Number(match[1]) > 255) throw new Error(`BERTH_CLUSTER_SUBNET: "${subnet}" is not a 10.x.0.0/16 subnet`);
  const netnsPrefix = env.BERTH_CLUSTER_NETNS_PREFIX ?? DEFAULTS.netnsPrefix;
  if (!/^[a-z0-9-]*$/.test(netnsPrefix)) throw new Error(`BERTH_CLUSTER_NETNS_PREFIX: "${netnsPrefix}" may hold only a-z, 0-9 and -`);
  const sandbox = sandboxSchema.safeParse(env.BERTH_SANDBOX || "none");
  if (!sandbox.success) throw new Error(`BERTH_SANDBOX: "${env.BERTH_SANDBOX}" is not a sandbox (none, userns or gvisor)`);
  return {
    sandbox: sandbox.data,
    localDir,
    stateDir: join(localDir, "cluster"),
    tlsDir: join(localDir, "tls"),
    caFile: join(localDir, "tls", "ca.pem"),
    sshDir: join(localDir, "ssh"),
    tenantsDir: join(localDir, "tenants"),
    inventoryFile: join(localDir, "inventory.json"),
    envFile: join(localDir, "env"),
    passwordsFile: join(localDir, "passwords.json"),
    bridge,
    subnet,
    subnetPrefix: `10.${match[1]}`,
    netnsPrefix,
    repository: REPOSITORY,
  };
}

/** The run index the harness names veths by (`berth<index>v<host>`): the subnet's second octet, unique per cluster. */
export function runIndex(layout: ClusterLayout): number {
  return Number(layout.subnetPrefix.split(".")[1]);
}

/**
 * The private network as the node firewall sees it: the hosts' addresses (.0.10 to .0.14, inside
 * .0.8/29). The bridge's .0.1 stands for the operator and the world outside, which on OpenStack
 * are outside the private network, so containers reach it as they would reach the internet.
 */
export function hostsCidr(layout: ClusterLayout): string {
  if (HOSTS.length > 6) throw new Error("the hosts no longer fit .0.8/29: widen hostsCidr");
  return `${layout.subnetPrefix}.0.8/29`;
}

export function netnsName(layout: ClusterLayout, host: string): string {
  return `${layout.netnsPrefix}${host}`;
}

/** What `up` creates in the local dir: `down` removes these, and `leftovers` reports any still there. */
export function madePaths(layout: ClusterLayout): string[] {
  return [layout.stateDir, layout.tlsDir, layout.sshDir, layout.tenantsDir, layout.inventoryFile, layout.envFile, layout.passwordsFile];
}
