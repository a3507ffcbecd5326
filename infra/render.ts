/**
 * The one rendering path for every file berth puts on a machine: the OpenStack program calls these
 * for the VMs, and the local cluster calls the very same functions for its daemons, so a file that
 * a real daemon has accepted locally is the file a VM gets. Plain inputs in, text out: no Pulumi
 * types, no I/O beyond reading the templates.
 *
 * Templates are handlebars files in templates/, compiled with noEscape (these are config files, not
 * HTML) and strict (a misspelt or missing variable is an error, never an empty string). Values that
 * land unquoted in a shell script, an environment file or a unit file are checked here, so no
 * caller can smuggle a space, quote or newline into them.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import Handlebars from "handlebars";
import type { EngineLine } from "./engine-line.ts";
import { lastSubnet, parseCidr } from "./net.ts";
import { MTU_RANGE, type SettingKey } from "../tenant-proxy/src/settings-table.ts";
import type { AuthSettings, VolumeBackend } from "../tenant-proxy/src/settings-types.ts";

const TEMPLATES = new URL("../templates/", import.meta.url);

const handlebars = Handlebars.create();
// JSON strings are valid YAML scalars: any file content fits on one line of cloud-config.
handlebars.registerHelper("json", (value: unknown) => JSON.stringify(value));
handlebars.registerHelper("quote", (value: string) => `'${value.replaceAll("'", `'\\''`)}'`);

const compiled = new Map<string, Handlebars.TemplateDelegate>();

function render(template: string, data: object): string {
  let delegate = compiled.get(template);
  if (!delegate) {
    delegate = handlebars.compile(readFileSync(new URL(template, TEMPLATES), "utf8"), { noEscape: true, strict: true });
    compiled.set(template, delegate);
  }
  return delegate(data);
}

/**
 * A check that a value holds only letters, digits and the given punctuation (written as the error
 * says it), so it needs no quoting where it is written.
 */
function ofCharacters(punctuation: string): (what: string, value: string) => string {
  const pattern = new RegExp(`^[A-Za-z0-9${punctuation.replace(/[\]\\^-]/g, "\\$&")}]+$`);
  return (what, value) => {
    if (!pattern.test(value)) {
      throw new Error(`${what}: ${JSON.stringify(value)} may hold only letters, digits and ${punctuation} (no spaces, quotes, #, $ or non-ASCII)`);
    }
    return value;
  };
}

/** Safe unquoted in sh, systemd unit and environment files, URLs and paths included. */
const plain = ofCharacters("_./:@%+=,~*-");

/**
 * A value of an environment file read by systemd's EnvironmentFile= only (never a shell): [ and ]
 * are themselves there, so an IPv6 literal in a URL fits; the rest is what is safe unquoted.
 */
const environmentValue = ofCharacters("_./:@%+=,~*[]-");

/** Prose inside a double-quoted shell string (an iptables comment). */
function label(what: string, value: string): string {
  if (!/^[A-Za-z0-9 .,()-]+$/.test(value)) throw new Error(`${what}: ${JSON.stringify(value)} may hold only letters, digits, spaces and .,()-`);
  return value;
}

function address(what: string, value: string): string {
  if (isIP(value) === 0) throw new Error(`${what}: ${JSON.stringify(value)} is not an IP address`);
  return value;
}

function portNumber(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${what}: ${value} is not a port`);
  return value;
}

function absolutePath(what: string, value: string): string {
  if (!value.startsWith("/")) throw new Error(`${what}: ${JSON.stringify(value)} is not an absolute path`);
  return plain(what, value);
}

export type Role = "manager" | "node" | "nfs" | "etcd";

// ---------------------------------------------------------------------------------------------
// The docker nodes

export interface DockerDefaultsInput {
  hostname: string;
  /** The node's private address: the engine listens on it and advertises it to the cluster store. */
  nodeAddress: string;
  enginePort: number;
  /** The 20.10 line's cluster store (etcd), which overlay networks go through; the current line's swarm needs no flag. */
  clusterStore?: { etcdAddress: string; etcdPort: number };
  /** Where bridge networks' subnets come from (berth:containerAddressPool), an IPv4 CIDR of /24 or wider. */
  addressPool: string;
  /** The VMs' network MTU: the default bridge's (--mtu). */
  mtu: number;
  /** The tenants' sandbox's own flags (infra/sandbox.ts: `--userns-remap`), if any. */
  sandboxFlags?: string[];
}

/**
 * Where the engines take their bridge networks' subnets from, in /24s (`--default-address-pool`):
 * each tenant has a bridge of its own on every node it uses, and each compose project one more,
 * so dockerd's own pools (31 networks a node) run out. 172.20.0.0/14 is 1024 networks a node; it
 * is part of dockerd's own default pools (a plain docker host uses it too), and clear of the
 * local cluster's and the test runs' bridges (10.212/16 and up), the stack's default network and
 * DevStack's (10.0.0.0/22, 172.24.4.0/24). Overlay networks come from the cluster store's pool.
 */
export const DEFAULT_CONTAINER_ADDRESS_POOL = "172.20.0.0/14";

/**
 * Where the current line's swarm takes its overlay networks' subnets from, in /24s (its
 * DefaultAddrPool, given at init: Docker's own is 10.0.0.0/8, ingress first at 10.0.0.0/24, which
 * holds the stack's default network and DevStack's). 10.128.0.0/12 is 4096 overlays, clear of
 * both, of the container pool above and of the local cluster's bridges.
 */
export const DEFAULT_OVERLAY_ADDRESS_POOL = "10.128.0.0/12";

/** The size of each bridge network's subnet taken from the address pool: 254 containers. */
const ADDRESS_POOL_SUBNET = 24;

/** The engine's bridge for overlay containers' traffic out of the node, shared by every tenant's. */
export const GATEWAY_BRIDGE = "docker_gwbridge";

/**
 * docker_gwbridge's subnet: the last /24 of the address pool, which the engine hands out from its
 * start. Left to itself the engine takes the next free /24 when a first overlay container comes;
 * the node firewall must name the subnet before the engine starts (at boot the bridge does not
 * exist yet), so the nodes make docker_gwbridge on this one (`gatewayBridgeCreateArgs`).
 */
export function gatewayBridgeSubnet(addressPool: string): string {
  const pool = parseCidr(addressPool);
  if (!pool || pool.version !== 4 || pool.prefix > ADDRESS_POOL_SUBNET)
    throw new Error(`addressPool: ${JSON.stringify(addressPool)} is not an IPv4 CIDR of /${ADDRESS_POOL_SUBNET} or wider`);
  return lastSubnet(pool, ADDRESS_POOL_SUBNET);
}

/** docker CLI arguments that make docker_gwbridge on `subnet`, with the options the engine gives it itself. */
export function gatewayBridgeCreateArgs(subnet: string): string[] {
  return [
    "network",
    "create",
    "--driver",
    "bridge",
    "--subnet",
    plain("subnet", subnet),
    "--opt",
    `com.docker.network.bridge.name=${GATEWAY_BRIDGE}`,
    "--opt",
    "com.docker.network.bridge.enable_icc=false",
    "--opt",
    "com.docker.network.bridge.enable_ip_masquerade=true",
    GATEWAY_BRIDGE,
  ];
}

/** The docker.service drop-in that makes docker_gwbridge on its subnet once the engine answers, if it is not there yet. */
export function renderDockerGatewayBridgeDropIn(input: { subnet: string }): string {
  return render("docker-gwbridge.conf.hbs", { bridge: GATEWAY_BRIDGE, create: gatewayBridgeCreateArgs(input.subnet).join(" ") });
}

/** /etc/default/docker with DOCKER_OPTS, as Debian's docker.service reads it. */
export function renderDockerDefaults(input: DockerDefaultsInput): string {
  const pool = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(input.addressPool);
  const poolPrefix = Number(pool?.[2]);
  if (!pool || isIP(pool[1]!) !== 4 || poolPrefix > ADDRESS_POOL_SUBNET)
    throw new Error(`addressPool: ${JSON.stringify(input.addressPool)} is not an IPv4 CIDR of /${ADDRESS_POOL_SUBNET} or wider`);
  return render("docker-defaults.hbs", {
    addressPoolBase: input.addressPool,
    addressPoolSize: ADDRESS_POOL_SUBNET,
    addressPoolNetworks: 2 ** (ADDRESS_POOL_SUBNET - poolPrefix),
    hostname: plain("hostname", input.hostname),
    nodeAddress: address("nodeAddress", input.nodeAddress),
    enginePort: portNumber("enginePort", input.enginePort),
    clusterStore: input.clusterStore
      ? { etcdAddress: address("etcdAddress", input.clusterStore.etcdAddress), etcdPort: portNumber("etcdPort", input.clusterStore.etcdPort) }
      : false,
    mtu: mtuValue("mtu", input.mtu),
    sandboxFlags: (input.sandboxFlags ?? []).map((flag) => plain("sandboxFlags", flag)).join(" "),
  });
}

/** A node of the current line's swarm: its name in berth:nodes and its private address. */
export interface SwarmNode {
  name: string;
  address: string;
}

export interface SwarmInput {
  /** The node that initialises the swarm and stays its only manager (the first node). */
  manager: SwarmNode;
  /** Every other node: each joins as a worker. */
  workers: SwarmNode[];
  enginePort: number;
  swarmPort: number;
  /**
   * Where the swarm takes its overlays' subnets from (berth:overlayAddressPool), in /24s: given at
   * init, since a swarm's pool is fixed when it is made (without one, Docker takes 10.0.0.0/8).
   */
  addressPool: string;
  /** How long the manager may take to list every node ready. */
  readySeconds: number;
}

/** The script that forms the current line's swarm from the manager VM, over the engines' API (templates/swarm.sh.hbs). */
export function renderSwarm(input: SwarmInput): string {
  const node = (what: string, value: SwarmNode): SwarmNode => ({ name: plain(`${what}.name`, value.name), address: address(`${what}.address`, value.address) });
  const manager = node("manager", input.manager);
  const workers = input.workers.map((worker, index) => node(`workers.${index}`, worker));
  const addresses = [manager, ...workers].map((one) => one.address);
  // The script writes address:port unbracketed, as an IPv4 address is written.
  if (!addresses.every((one) => isIP(one) === 4)) throw new Error(`swarm: the nodes' addresses must be IPv4 (${addresses.join(", ")})`);
  if (new Set(addresses).size !== addresses.length) throw new Error(`swarm: two nodes share an address (${addresses.join(", ")})`);
  const pool = parseCidr(input.addressPool);
  if (!pool || pool.version !== 4 || pool.prefix > ADDRESS_POOL_SUBNET)
    throw new Error(`swarm: addressPool ${JSON.stringify(input.addressPool)} is not an IPv4 CIDR of /${ADDRESS_POOL_SUBNET} or wider`);
  return render("swarm.sh.hbs", {
    addressPool: pool.text,
    subnetSize: ADDRESS_POOL_SUBNET,
    manager,
    workers,
    addresses,
    enginePort: portNumber("enginePort", input.enginePort),
    swarmPort: portNumber("swarmPort", input.swarmPort),
    requestSeconds: 30,
    readySeconds: Math.max(1, Math.trunc(input.readySeconds)),
  });
}

/** /etc/docker/daemon.json: what DOCKER_OPTS cannot say (a runtime's arguments). */
export function renderDockerDaemonJson(input: { runtimes: Record<string, { path: string; runtimeArgs: string[] }> }): string {
  const runtimes = Object.fromEntries(
    Object.entries(input.runtimes).map(([name, runtime]) => [
      plain("runtime", name),
      { path: absolutePath("runtime path", runtime.path), runtimeArgs: runtime.runtimeArgs.map((arg) => plain("runtimeArgs", arg)) },
    ]),
  );
  return `${JSON.stringify({ runtimes }, null, 2)}
`;
}

function mtuValue(what: string, value: number): number {
  if (!Number.isInteger(value) || value < MTU_RANGE.min || value > MTU_RANGE.max) {
    throw new Error(`${what}: ${value} is not an MTU from ${MTU_RANGE.min} to ${MTU_RANGE.max}`);
  }
  return value;
}

/** The apt preferences that keep docker.io on the engine line's version (infra/engine-line.ts). */
export function renderDockerAptPin(input: { version: string; line: EngineLine }): string {
  return render("docker-apt-pin.hbs", { version: plain("version", input.version), classic: input.line === "20.10" });
}

export interface OsdConfigInput {
  clusterId: string;
  nodeId: string;
  nfsServer: string;
  nfsPath: string;
}

/** The OpenStorage NFS driver's configuration (admin guide step 12.3.1). */
export function renderOsdConfig(input: OsdConfigInput): string {
  return render("osd-config.yaml.hbs", {
    clusterId: plain("clusterId", input.clusterId),
    nodeId: plain("nodeId", input.nodeId),
    nfsServer: address("nfsServer", input.nfsServer),
    nfsPath: absolutePath("nfsPath", input.nfsPath),
  });
}

export interface NfsMountInput {
  server: string;
  remotePath: string;
  where: string;
  /** mount(8) options, e.g. "nfsvers=4.2,proto=tcp,port=2049,hard". */
  options: string;
}

/** The systemd unit name for a mount point, as `systemd-escape --path --suffix=mount` spells it. */
export function mountUnitName(where: string): string {
  const trimmed = absolutePath("where", where).replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "-.mount";
  const escaped = [...trimmed.replace(/\/+/g, "/")]
    .map((char, index) =>
      char === "/" ? "-" : /[A-Za-z0-9:_]/.test(char) || (char === "." && index > 0) ? char : `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
    )
    .join("");
  return `${escaped}.mount`;
}

/** A mount unit for one NFS share on a docker node. */
export function renderNfsMountUnit(input: NfsMountInput): string {
  return render("nfs.mount.hbs", {
    server: address("server", input.server),
    remotePath: absolutePath("remotePath", input.remotePath),
    where: absolutePath("where", input.where),
    options: plain("options", input.options),
  });
}

export interface NodeFirewallInput {
  /** The private network: containers reach none of it but other nodes' published ports (and DNS). */
  clusterCidr: string;
  /** The published container ports' range, which the security groups open to clients outside. */
  containerPorts: { min: number; max: number };
  /** Cluster services that trust every node and must not be reachable from containers. */
  protectedAddresses: Array<{ address: string; service: string }>;
  /** The interfaces containers' traffic enters the node by (iptables names: `br-+` is every `br-*`). */
  bridges: string[];
  /** docker_gwbridge's subnet (`gatewayBridgeSubnet`): ARP between its containers is dropped. */
  gatewayBridgeSubnet: string;
}

/** berth's chains: from a container bridge to the node itself, and on through the node's NAT. */
export const NODE_FIREWALL_CHAINS = {
  toNode: "BERTH-CONTAINERS-TO-NODE",
  toCluster: "BERTH-CONTAINERS-TO-CLUSTER",
  gatewayBridgeArp: "BERTH-GWBRIDGE-ARP",
} as const;

/** The iptables rules that keep containers off every node address and the cluster's services. */
export function renderNodeFirewall(input: NodeFirewallInput): string {
  const min = portNumber("containerPorts.min", input.containerPorts.min);
  const max = portNumber("containerPorts.max", input.containerPorts.max);
  if (min > max) throw new Error(`containerPorts: ${min} is above ${max}`);
  if (input.bridges.length === 0) throw new Error("bridges: at least one interface is needed");
  return render("node-firewall.sh.hbs", {
    ...NODE_FIREWALL_CHAINS,
    clusterCidr: plain("clusterCidr", input.clusterCidr),
    containerPorts: `${min}:${max}`,
    protectedAddresses: input.protectedAddresses.map((entry) => ({
      address: address("protectedAddresses.address", entry.address),
      service: label("protectedAddresses.service", entry.service),
    })),
    bridges: input.bridges.map((bridge) => plain("bridges", bridge)),
    gatewayBridgeSubnet: plain("gatewayBridgeSubnet", input.gatewayBridgeSubnet),
  });
}

/** The oneshot unit that applies the node firewall before docker starts, and again with every docker restart. */
export function renderNodeFirewallUnit(input: { scriptPath: string }): string {
  return render("berth-node-firewall.service.hbs", { scriptPath: absolutePath("scriptPath", input.scriptPath) });
}

/**
 * The clean-up that runs before every dockerd start (templates/docker-stale-overlay.py, a python3
 * script without variables, so it is copied as it is): it removes the overlay endpoint records
 * whose sandbox a reboot or a crash took away, which would otherwise keep their networks' containers
 * from starting on the node.
 */
export function renderDockerStaleOverlay(): string {
  return readFileSync(new URL("docker-stale-overlay.py", TEMPLATES), "utf8");
}

/** docker.service's drop-in that runs it before the engine starts. */
export function renderDockerStaleOverlayDropIn(input: { scriptPath: string; dataRoot?: string }): string {
  return render("docker-stale-overlay.conf.hbs", {
    scriptPath: absolutePath("scriptPath", input.scriptPath),
    dataRoot: input.dataRoot === undefined ? undefined : absolutePath("dataRoot", input.dataRoot),
  });
}

export interface OsdUnitInput {
  image: string;
  container: string;
  configDir: string;
  configName: string;
  etcdAddress: string;
  etcdPort: number;
  /** The NFS mount points the driver serves volumes from. */
  mounts: string[];
}

/** The unit that runs the OpenStorage driver container (opt-in: berth:osdPlugin). */
export function renderOsdUnit(input: OsdUnitInput): string {
  return render("berth-osd.service.hbs", {
    image: plain("image", input.image),
    container: plain("container", input.container),
    configDir: absolutePath("configDir", input.configDir),
    configName: plain("configName", input.configName),
    etcdAddress: address("etcdAddress", input.etcdAddress),
    etcdPort: portNumber("etcdPort", input.etcdPort),
    mounts: input.mounts.map((mount) => absolutePath("mounts", mount)),
  });
}

// ---------------------------------------------------------------------------------------------
// The NFS server and etcd

export interface ExportsInput {
  /** The only clients: the cluster's private network. */
  clientCidr: string;
  shares: string[];
  /** exports(5) options of every share. */
  options: string[];
}

/** /etc/exports for nfs-kernel-server. */
export function renderExports(input: ExportsInput): string {
  const options = input.options.map((option) => plain("options", option)).join(",");
  return render("exports.hbs", {
    clientCidr: plain("clientCidr", input.clientCidr),
    shares: input.shares.map((path) => ({ path: absolutePath("shares", path), options })),
  });
}

export interface NfsDiskInput {
  /** How the volume shows up under /dev/disk/by-id: the first 20 characters of its id. */
  volumeSerial: string;
  label: string;
  mountPoint: string;
  /** Each exported path is a bind mount of `directory` on the data volume. */
  shares: Array<{ path: string; directory: string }>;
}

/** The script that formats (once) and mounts the NFS data volume and the exported directories. */
export function renderNfsDisk(input: NfsDiskInput): string {
  return render("nfs-disk.sh.hbs", {
    volumeSerial: plain("volumeSerial", input.volumeSerial),
    label: plain("label", input.label),
    mountPoint: absolutePath("mountPoint", input.mountPoint),
    shares: input.shares.map((share) => ({ path: absolutePath("shares.path", share.path), directory: plain("shares.directory", share.directory) })),
  });
}

/** The nfs-server.service drop-in that keeps nfsd down until every exported directory is mounted. */
export function renderNfsServerMounts(input: { paths: string[] }): string {
  return render("nfs-server-mounts.conf.hbs", { paths: input.paths.map((path) => absolutePath("paths", path)) });
}

/** The etcd.service drop-in that waits for the network and restarts etcd after a failure. */
export function renderEtcdRestart(input: { restartSeconds: number }): string {
  if (!Number.isInteger(input.restartSeconds) || input.restartSeconds < 1)
    throw new Error(`restartSeconds: ${input.restartSeconds} is not a whole number of seconds`);
  return render("etcd-restart.conf.hbs", { restartSeconds: input.restartSeconds });
}

export interface EtcdDefaultsInput {
  name: string;
  address: string;
  clientPort: number;
  legacyClientPort: number;
  peerPort: number;
  clusterToken: string;
  dataDir: string;
}

/** /etc/default/etcd: ETCD_* settings for Debian's etcd.service, v2 API on. */
export function renderEtcdDefaults(input: EtcdDefaultsInput): string {
  return render("etcd-defaults.hbs", {
    name: plain("name", input.name),
    address: address("address", input.address),
    clientPort: portNumber("clientPort", input.clientPort),
    legacyClientPort: portNumber("legacyClientPort", input.legacyClientPort),
    peerPort: portNumber("peerPort", input.peerPort),
    clusterToken: plain("clusterToken", input.clusterToken),
    dataDir: absolutePath("dataDir", input.dataDir),
  });
}

// ---------------------------------------------------------------------------------------------
// The tenant proxy

/** FDCS's /tmp/cluster.ips format: one host:port a line. */
export function renderNodesFile(input: { nodes: Array<{ address: string; port: number }> }): string {
  return render("nodes.hbs", {
    nodes: input.nodes.map((node) => ({ address: address("nodes.address", node.address), port: portNumber("nodes.port", node.port) })),
  });
}

export interface ProxyEnvInput {
  /** host:port to listen on. */
  listen: string;
  nodesFile: string;
  authBackend: AuthSettings["backend"];
  keystoneUrl?: string;
  adminTenantId?: string;
  membersTenantId?: string;
  multiTenant: boolean;
  networkAuthorization: boolean;
  /** Set when flavors are enforced. */
  flavorsFile?: string;
  /** Set when quota is enforced. */
  quotaFile?: string;
  apiFilterFile?: string;
  tls?: { certFile: string; keyFile: string };
  /** Where tenants' named volumes live (the proxy's BERTH_VOLUME_BACKEND and its settings). */
  volumes: ProxyVolumes;
  /** The engines' hosts' network MTU (BERTH_NETWORK_MTU): the networks the proxy creates fit in it. */
  networkMtu?: number;
  /** BERTH_TENANT_RUNTIME: the runtime tenants' containers run under (the sandbox's). */
  tenantRuntime?: string;
  /** BERTH_VOLUME_OWNER: `uid:gid` of new volume directories (the engines' remapped root). */
  volumeOwner?: string;
}

/**
 * The proxy's own volume backends (tenant-proxy/src/settings-types.ts), under the proxy's names;
 * `local` is for one engine, never a cluster, so infra does not write it.
 */
export type ProxyVolumes = Exclude<VolumeBackend, { kind: "local" }>;

/**
 * /etc/berth/proxy.env: the proxy's BERTH_* and SWARM_* settings. The template's variables are the
 * keys of the proxy's settings table, so a value is named as the setting it becomes.
 */
export function renderProxyEnv(input: ProxyEnvInput): string {
  const optional = (what: string, value: string | undefined) => (value === undefined ? null : environmentValue(what, value));
  const settings = {
    listen: plain("listen", input.listen),
    nodesFile: absolutePath("nodesFile", input.nodesFile),
    authBackend: input.authBackend,
    keystoneUrl: optional("keystoneUrl", input.keystoneUrl),
    adminTenantId: optional("adminTenantId", input.adminTenantId),
    membersTenantId: optional("membersTenantId", input.membersTenantId),
    multiTenant: input.multiTenant,
    networkAuthorization: input.networkAuthorization,
    flavorsEnforced: input.flavorsFile !== undefined,
    flavorsFile: optional("flavorsFile", input.flavorsFile),
    quotaEnforced: input.quotaFile !== undefined,
    quotaFile: optional("quotaFile", input.quotaFile),
    apiFilterFile: optional("apiFilterFile", input.apiFilterFile),
    tlsCert: input.tls ? absolutePath("tls.certFile", input.tls.certFile) : null,
    tlsKey: input.tls ? absolutePath("tls.keyFile", input.tls.keyFile) : null,
    ...volumeSettings(input.volumes),
    networkMtu: input.networkMtu === undefined ? null : mtuValue("networkMtu", input.networkMtu),
    tenantRuntime: optional("tenantRuntime", input.tenantRuntime),
    volumeOwner: optional("volumeOwner", input.volumeOwner),
  } satisfies Partial<Record<SettingKey, unknown>>;
  return render("proxy.env.hbs", settings);
}

/** The volume backend's settings, every one present (null when unused) for the strict template. */
function volumeSettings(volumes: ProxyVolumes) {
  const none = { nfsServer: null, nfsExport: null, volumeRoot: null, osdDriver: null };
  switch (volumes.kind) {
    case "nfs":
      return {
        ...none,
        volumeBackend: volumes.kind,
        nfsServer: address("volumes.server", volumes.server),
        nfsExport: absolutePath("volumes.export", volumes.export),
        volumeRoot: absolutePath("volumes.root", volumes.root),
      };
    case "shared-dir":
      return { ...none, volumeBackend: volumes.kind, volumeRoot: absolutePath("volumes.root", volumes.root) };
    case "osd":
      return { ...none, volumeBackend: volumes.kind, osdDriver: plain("volumes.driver", volumes.driver) };
  }
}

/** The proxy's JSON files (flavors, quota, apifilter): FDCS's formats, pretty-printed. */
export function renderProxyJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export interface ProxyUnitInput {
  user: string;
  environmentFile: string;
  nodeBinary: string;
  /** Node's own flags, before the bundle. */
  nodeFlags: readonly string[];
  /** The process's environment besides the proxy's settings (EnvironmentFile): runtime tuning. */
  environment: Readonly<Record<string, string>>;
  bundlePath: string;
  /**
   * The only paths the proxy may write (ProtectSystem=strict makes everything else read-only): the
   * volume root its settings name. The unit also waits for the mounts they live on.
   */
  writablePaths: string[];
}

/** The systemd unit that runs the bundled proxy under Debian's Node. */
export function renderProxyUnit(input: ProxyUnitInput): string {
  return render("berth-proxy.service.hbs", {
    user: plain("user", input.user),
    environmentFile: absolutePath("environmentFile", input.environmentFile),
    nodeBinary: absolutePath("nodeBinary", input.nodeBinary),
    nodeFlags: input.nodeFlags.map((flag) => plain("nodeFlags", flag)),
    environment: Object.entries(input.environment).map(([name, value]) => `${plain("environment", name)}=${plain("environment", value)}`),
    bundlePath: absolutePath("bundlePath", input.bundlePath),
    writablePaths: input.writablePaths.map((path) => absolutePath("writablePaths", path)),
  });
}

export interface ProxyHealthInput {
  /** The address tenants use, which the certificate must name. */
  address: string;
  port: number;
  /** Where the check connects to instead (the proxy's own host, over loopback). */
  connectTo: string;
  caFile: string;
  timeoutSeconds: number;
  unit: string;
  /** The user the proxy runs as: the volume root must be writable to it. */
  user: string;
  /** The engines the proxy forwards to: each must answer `_ping`. */
  engines: Array<{ address: string; port: number }>;
  /** Keystone, when the proxy authenticates with it: it must answer. */
  keystoneUrl?: string;
  /** The proxy's volume root (nfs and shared-dir backends): it must be writable by the proxy. */
  volumeRoot?: string;
}

/** The post-deploy check: `_ping` through TLS, and the proxy's engines, Keystone and volume root. */
export function renderProxyHealthCheck(input: ProxyHealthInput): string {
  return render("proxy-health.sh.hbs", {
    address: address("address", input.address),
    port: portNumber("port", input.port),
    connectTo: address("connectTo", input.connectTo),
    caFile: absolutePath("caFile", input.caFile),
    timeoutSeconds: input.timeoutSeconds,
    unit: plain("unit", input.unit),
    user: plain("user", input.user),
    engines: input.engines.map((engine) => ({ address: address("engines.address", engine.address), port: portNumber("engines.port", engine.port) })),
    keystoneUrl: input.keystoneUrl === undefined ? null : plain("keystoneUrl", input.keystoneUrl),
    volumeRoot: input.volumeRoot === undefined ? null : absolutePath("volumeRoot", input.volumeRoot),
  });
}

// ---------------------------------------------------------------------------------------------
// First boot and provisioning

/** A file a VM gets, owned and moded as given. */
export interface FileSpec {
  path: string;
  content: string;
  /** Octal, e.g. "0644". */
  mode: string;
  /** user:group */
  owner: string;
}

function checkedFile<T extends Omit<FileSpec, "content">>(file: T): T {
  absolutePath("file path", file.path);
  if (!/^0[0-7]{3}$/.test(file.mode)) throw new Error(`${file.path}: mode ${JSON.stringify(file.mode)} is not octal like 0644`);
  if (!/^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$/.test(file.owner)) throw new Error(`${file.path}: owner ${JSON.stringify(file.owner)} is not user:group`);
  return file;
}

export interface CloudInitInput {
  hostname: string;
  packages: string[];
  /** Run early on every boot (before the network stage is done). */
  bootcmd: string[];
  files: FileSpec[];
  /** Run once, at the end of the first boot, after the packages are installed. */
  runcmd: string[];
  /** The SSH host key the stack generated and `pulumi up` pins (OpenSSH formats). */
  hostKey?: SshHostKey;
}

/** An Ed25519 SSH host key: the private key in OpenSSH's format, the public one as an authorized_keys line. */
export interface SshHostKey {
  privateKey: string;
  publicKey: string;
}

function checkedHostKey(key: SshHostKey): SshHostKey {
  if (!/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n?$/.test(key.privateKey))
    throw new Error("hostKey.privateKey: not an OpenSSH private key");
  if (!/^ssh-ed25519 [A-Za-z0-9+/=]+( \S*)?\n?$/.test(key.publicKey)) throw new Error("hostKey.publicKey: not an ssh-ed25519 public key line");
  return { privateKey: key.privateKey, publicKey: key.publicKey.trim() };
}

/** The cloud-config user data of one VM. */
export function renderCloudInit(role: Role, input: CloudInitInput): string {
  return render("cloud-init.yaml.hbs", {
    role,
    hostname: plain("hostname", input.hostname),
    packages: input.packages.map((pkg) => plain("packages", pkg)),
    bootcmd: input.bootcmd,
    files: input.files.map(checkedFile),
    runcmd: input.runcmd,
    hostKey: input.hostKey ? checkedHostKey(input.hostKey) : null,
  });
}

export interface WaitCloudInitInput {
  timeoutSeconds: number;
  logLines: number;
  outputLog: string;
  resultFile: string;
}

/** The strict wait for cloud-init that starts every provisioning script. */
export function renderWaitCloudInit(input: WaitCloudInitInput): string {
  return render("wait-cloud-init.sh.hbs", {
    timeoutSeconds: input.timeoutSeconds,
    logLines: input.logLines,
    outputLog: absolutePath("outputLog", input.outputLog),
    resultFile: absolutePath("resultFile", input.resultFile),
  });
}

export interface WaitForSshInput {
  address: string;
  /** The authorized_keys line the VM's sshd must present. */
  hostKey: string;
  timeoutSeconds: number;
}

/** Run on the bastion: waits until a VM's sshd answers with its pinned Ed25519 host key. */
export function renderWaitForSsh(input: WaitForSshInput): string {
  const [type, key] = input.hostKey.trim().split(/\s+/);
  if (type !== "ssh-ed25519" || !key || !/^[A-Za-z0-9+/=]+$/.test(key))
    throw new Error(`hostKey: ${JSON.stringify(input.hostKey)} is not an ssh-ed25519 public key line`);
  return render("wait-for-ssh.sh.hbs", { address: address("address", input.address), key, timeoutSeconds: input.timeoutSeconds });
}

/** A step of a provisioning script: a description (for the log) and a shell command. */
export interface ScriptStep {
  description: string;
  command: string;
}

export interface ScriptCheck extends ScriptStep {
  /** Retried until it succeeds or this many seconds pass. */
  timeoutSeconds: number;
}

/** A managed file and the units to restart when it changes. */
export interface ProvisionedFile extends FileSpec {
  restarts: string[];
}

/** A file copied to the host beforehand (e.g. the proxy bundle), installed only with this hash. */
export interface StagedFile extends Omit<FileSpec, "content"> {
  source: string;
  sha256: string;
  restarts: string[];
}

export interface ProvisionScriptInput {
  hostname: string;
  /** The rendered wait for cloud-init (renderWaitCloudInit). */
  waitCloudInit: string;
  /** Before the files (e.g. the user that owns some of them). */
  before: ScriptStep[];
  files: ProvisionedFile[];
  staged: StagedFile[];
  /** After the files, before the restarts (e.g. mounting the data volume). */
  after: ScriptStep[];
  /** Units enabled and started every run. */
  services: string[];
  checks: ScriptCheck[];
}

function sha256Hex(path: string, value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) throw new Error(`${path}: ${JSON.stringify(value)} is not a SHA-256 in hex`);
  return value;
}

/** The idempotent provisioning script `pulumi up` runs as root on a VM. */
export function renderProvisionScript(role: Role, input: ProvisionScriptInput): string {
  const unit = (value: string) => plain("unit", value);
  const step = (entry: ScriptStep) => ({ description: entry.description.replace(/\n/g, " "), command: entry.command });
  return render("provision.sh.hbs", {
    role,
    hostname: plain("hostname", input.hostname),
    waitCloudInit: input.waitCloudInit.trimEnd(),
    before: input.before.map(step),
    files: [
      ...input.files.map((file) => ({
        ...checkedFile(file),
        content: Buffer.from(file.content).toString("base64").replace(/.{76}/g, "$&\n"),
        restarts: file.restarts.map(unit),
        staged: null,
      })),
      ...input.staged.map((file) => ({
        ...checkedFile(file),
        restarts: file.restarts.map(unit),
        staged: { source: absolutePath("staged source", file.source), sha256: sha256Hex(file.path, file.sha256) },
      })),
    ],
    after: input.after.map(step),
    services: input.services.map(unit),
    checks: input.checks.map((check) => ({ ...step(check), timeoutSeconds: check.timeoutSeconds })),
  });
}
