/**
 * Starts the local cluster's daemons, each in its host's network namespace, from the files
 * infra/render.ts renders for the OpenStack VMs (converted by ./configs.ts). Daemons are spawned
 * detached so they outlive `up`, and each is written into the cluster's ledger (the test harness's
 * ledger, in .local/cluster/) as soon as it has a PID, so `down` finds and stops every one of them
 * even after a crash half-way through `up`.
 */
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { DEFAULT_PROXY_PORT, ENGINE_PORT, ETCD_CLIENT_PORT, ETCD_LEGACY_CLIENT_PORT, ETCD_PEER_PORT } from "../../infra/ports.ts";
import { type Sandbox, remapUserCommands, sandboxDockerDataRoot, sandboxDockerFlags, sandboxProxySettings, sandboxRuntimes } from "../../infra/sandbox.ts";
import {
  DEFAULT_CONTAINER_ADDRESS_POOL,
  GATEWAY_BRIDGE,
  gatewayBridgeCreateArgs,
  gatewayBridgeSubnet,
  renderDockerDaemonJson,
  renderDockerDefaults,
  renderDockerStaleOverlay,
  renderEtcdDefaults,
  renderExports,
  renderNodesFile,
  renderProxyEnv,
  renderProxyJson,
} from "../../infra/render.ts";
import { EXPORT_OPTIONS, NFS_SHARES, nodeFirewallScript, PROXY_PROCESS, VOLUME_ROOT } from "../../infra/roles.ts";
import {
  runChecked,
  runCommand,
  jsonRequest,
  writeBusyboxRootfs,
  record,
  isRunning,
  spawnDaemon,
  waitFor,
  type ProcessIdentity,
  type Run,
} from "../harness/index.ts";
import { NODE18, NODE18_LIBS } from "../lib/node18.ts";
import { hostPort, tlsPing } from "../smoke/probes.ts";
import { securityGroupCommands, type FirewallInput } from "./firewall.ts";
import { dockerdArgs, engineRoots, etcdEnvironment, ganeshaConfig, shellAssignments, sshdConfig, type LocalEngine } from "./configs.ts";
import { hostsCidr, SSH_PORT, type ClusterLayout } from "./layout.ts";

export interface ClusterHost {
  name: string;
  role: "manager" | "node" | "nfs" | "etcd";
  netns: string;
  address: string;
}

export const PROXY_PORT = DEFAULT_PROXY_PORT;
const READY_TIMEOUT_MS = 60_000;
/** The FDCS admin guide's flavors; the quota is larger than its 300 MB so the transcript's `scale web=5` fits beside the rest. */
export const FLAVORS = { default: { Memory: 64 }, medium: { Memory: 128 }, large: { Memory: 256 } };
export const QUOTA = { Memory: 1024 };

/** `nsenter --net` (not `ip netns exec`, which remounts /sys) plus a hostname of its own. */
function inHost(host: ClusterHost, argv: string[], ownMounts = false): string[] {
  return [
    "nsenter",
    `--net=/var/run/netns/${host.netns}`,
    "unshare",
    "--uts",
    ...(ownMounts ? ["--mount", "--propagation", "slave"] : []),
    "sh",
    "-c",
    'hostname "$0" && exec "$@"',
    host.name,
    ...argv,
  ];
}

async function startDaemon(run: Run, id: string, argv: string[], logFile: string, env?: NodeJS.ProcessEnv): Promise<ProcessIdentity> {
  const daemon = await spawnDaemon(argv, { logFile, ...(env ? { env } : {}) });
  record(run.dir, { kind: "daemon", id, process: daemon });
  return daemon;
}

async function waitUntil(what: string, daemon: ProcessIdentity, logFile: string, ready: () => Promise<boolean>): Promise<void> {
  let exited = false;
  const answered = await waitFor(
    async () => {
      exited = !isRunning(daemon);
      return exited || (await ready().catch(() => false));
    },
    READY_TIMEOUT_MS,
    200,
  );
  if (answered && !exited) return;
  const tail = readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n");
  throw new Error(`${what} ${exited ? "exited" : `did not answer within ${READY_TIMEOUT_MS / 1000} s`}; end of ${logFile}:\n${tail}`);
}

export function hostDir(layout: ClusterLayout, host: ClusterHost): string {
  const dir = join(layout.stateDir, "hosts", host.name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------

export async function startEtcd(run: Run, layout: ClusterLayout, host: ClusterHost): Promise<string> {
  const dir = hostDir(layout, host);
  const rendered = renderEtcdDefaults({
    name: host.name,
    address: host.address,
    clientPort: ETCD_CLIENT_PORT,
    legacyClientPort: ETCD_LEGACY_CLIENT_PORT,
    peerPort: ETCD_PEER_PORT,
    clusterToken: "berth-local",
    dataDir: join(dir, "etcd-data"),
  });
  writeFileSync(join(dir, "etcd.default"), rendered);
  const logFile = join(dir, "etcd.log");
  const env = { PATH: process.env.PATH, ...etcdEnvironment(rendered) };
  const daemon = await startDaemon(run, `${host.name}.etcd`, inHost(host, ["/usr/bin/etcd"]), logFile, env);
  const clientUrl = `http://${host.address}:${ETCD_CLIENT_PORT}`;
  await waitUntil(
    "etcd",
    daemon,
    logFile,
    async () => (await jsonRequest({ host: host.address, port: ETCD_CLIENT_PORT }, "GET", "/v2/keys/", { timeoutMs: 1_000 })).status === 200,
  );
  return clientUrl;
}

/** The NFS server's local directory for an exported path. */
export function nfsLocalPath(layout: ClusterLayout, exported: string): string {
  return join(layout.stateDir, "hosts", "berth-nfs", "export", exported);
}

/** Where the proxy and the engines find tenants' volumes: VOLUME_ROOT inside the NFS server's export. */
export function volumeRoot(layout: ClusterLayout): string {
  return nfsLocalPath(layout, VOLUME_ROOT);
}

export async function startNfs(run: Run, layout: ClusterLayout, host: ClusterHost, client: ClusterHost): Promise<void> {
  const dir = hostDir(layout, host);
  const exportsText = renderExports({ clientCidr: layout.subnet, shares: NFS_SHARES.map((share) => share.path), options: EXPORT_OPTIONS });
  writeFileSync(join(dir, "exports"), exportsText);
  for (const share of NFS_SHARES) mkdirSync(nfsLocalPath(layout, share.path), { recursive: true, mode: 0o777 });
  mkdirSync(volumeRoot(layout), { recursive: true });
  const config = join(dir, "ganesha.conf");
  writeFileSync(
    config,
    ganeshaConfig(exportsText, (exported) => nfsLocalPath(layout, exported)),
  );
  const logFile = join(dir, "ganesha.out");
  const argv = ["/usr/bin/ganesha.nfsd", "-F", "-f", config, "-L", join(dir, "ganesha.log"), "-p", join(dir, "ganesha.pid"), "-N", "NIV_EVENT"];
  const daemon = await startDaemon(run, `${host.name}.ganesha`, inHost(host, argv), logFile);
  writeFileSync(join(nfsLocalPath(layout, NFS_SHARES[0].path), ".ready"), "ready\n");
  await waitUntil("nfs-ganesha", daemon, logFile, () => nfsAnswers(host, client));
}

/** Reads a file through NFSv4 from `client`'s namespace, as a docker node would. */
export async function nfsAnswers(nfs: ClusterHost, client: ClusterHost): Promise<boolean> {
  const url = `nfs://${nfs.address}${NFS_SHARES[0].path}/.ready?version=4`;
  const out = await runChecked(["nsenter", `--net=/var/run/netns/${client.netns}`, "nfs-cat", url], { timeoutMs: 10_000 }).catch(() => "");
  return out === "ready\n";
}

export interface EngineHandle {
  name: string;
  socketPath: string;
}

/** The local cluster's bridge and veth pairs keep Linux's default MTU. */
const LOCAL_MTU = 1500;

export async function startEngine(run: Run, layout: ClusterLayout, host: ClusterHost, etcd: ClusterHost): Promise<EngineHandle> {
  const dir = hostDir(layout, host);
  const socketPath = join(dir, "docker.sock");
  const configFile = join(dir, "daemon.json");
  // The VMs' /etc/docker/daemon.json (the sandbox's runtimes) plus a key file of this engine's own.
  const daemonJson = JSON.parse(renderDockerDaemonJson({ runtimes: sandboxRuntimes(layout.sandbox) }));
  writeFileSync(configFile, JSON.stringify({ ...daemonJson, "deprecated-key-path": join(dir, "key.json") }));
  // What a node's boot commands do before docker starts under userns.
  if (layout.sandbox === "userns") await runChecked(["sh", "-ec", remapUserCommands().join("\n")]);
  const rendered = renderDockerDefaults({
    hostname: host.name,
    nodeAddress: host.address,
    enginePort: ENGINE_PORT,
    clusterStore: { etcdAddress: etcd.address, etcdPort: ETCD_CLIENT_PORT },
    addressPool: DEFAULT_CONTAINER_ADDRESS_POOL,
    mtu: LOCAL_MTU,
    sandboxFlags: sandboxDockerFlags(layout.sandbox),
  });
  writeFileSync(join(dir, "docker.default"), rendered);
  const logFile = join(dir, "dockerd.log");
  const engine = { dir, socketPath, configFile };
  await removeStaleOverlayEndpoints(dir, engine, logFile, layout.sandbox);
  // A private mount namespace keeps the engine's overlay mounts out of the root namespace.
  const argv = inHost(host, ["/usr/sbin/dockerd", ...dockerdArgs(rendered, engine)], true);
  const daemon = await spawnDaemon(argv, { logFile });
  record(run.dir, { kind: "dockerd", id: `${host.name}.dockerd`, process: daemon, socketPath, netns: host.netns });
  await waitUntil(`dockerd on ${host.name}`, daemon, logFile, () => enginePing(socketPath));
  await makeGatewayBridge(socketPath);
  return { name: host.name, socketPath };
}

/** What the VMs' docker.service drop-in does once the engine answers (templates/docker-gwbridge.conf.hbs). */
async function makeGatewayBridge(socketPath: string): Promise<void> {
  const docker = ["docker", "-H", `unix://${socketPath}`];
  if ((await runCommand([...docker, "network", "inspect", GATEWAY_BRIDGE])).code === 0) return;
  await runChecked([...docker, ...gatewayBridgeCreateArgs(gatewayBridgeSubnet(DEFAULT_CONTAINER_ADDRESS_POOL))]);
}

/** What docker.service's ExecStartPre does on the VMs (templates/docker-stale-overlay.py), with the local roots; its word goes to the engine's log. */
async function removeStaleOverlayEndpoints(dir: string, engine: LocalEngine, logFile: string, sandbox: Sandbox): Promise<void> {
  const script = join(dir, "docker-stale-overlay.py");
  writeFileSync(script, renderDockerStaleOverlay(), { mode: 0o755 });
  const roots = engineRoots(engine);
  // Under userns the engine keeps its whole root, the network store included, in the remapped root's folder.
  const dataRoot = sandboxDockerDataRoot(sandbox, roots.dataRoot) ?? roots.dataRoot;
  appendFileSync(logFile, await runChecked([script, "--data-root", dataRoot, "--exec-root", roots.execRoot]));
}

/** The node firewall the VMs get (templates/node-firewall.sh.hbs), run in the node's namespace before dockerd starts, as at a VM's boot. */
export async function applyNodeFirewall(layout: ClusterLayout, node: ClusterHost, etcd: ClusterHost, nfs: ClusterHost): Promise<void> {
  const script = nodeFirewallScript({
    clusterCidr: hostsCidr(layout),
    etcdAddress: etcd.address,
    nfsAddress: nfs.address,
    containerAddressPool: DEFAULT_CONTAINER_ADDRESS_POOL,
  });
  writeFileSync(join(hostDir(layout, node), "node-firewall.sh"), script, { mode: 0o755 });
  await runChecked(["nsenter", `--net=/var/run/netns/${node.netns}`, "sh", "-s"], { input: script });
}

/** The security groups of infra/rules.ts as INPUT rules in each host's namespace (see ./firewall.ts). */
export async function applySecurityGroups(hosts: ClusterHost[], input: FirewallInput): Promise<void> {
  await Promise.all(
    hosts.map(async (host) => {
      for (const rule of securityGroupCommands({ role: host.role, address: host.address }, input)) {
        await runChecked(["nsenter", `--net=/var/run/netns/${host.netns}`, "iptables", ...rule]);
      }
    }),
  );
}

/** A command in a host's namespace, as that host would run it; true when it exits 0. */
export async function succeedsIn(host: ClusterHost, argv: string[]): Promise<boolean> {
  return (await runCommand(["nsenter", `--net=/var/run/netns/${host.netns}`, ...argv], { timeoutMs: 10_000 })).code === 0;
}

export async function enginePing(socketPath: string): Promise<boolean> {
  return (await jsonRequest({ socketPath }, "GET", "/_ping", { timeoutMs: 2_000 })).status === 200;
}

/** busybox:latest from Debian's busybox-static, imported on every engine (there is no Docker Hub here). */
export async function importBusybox(layout: ClusterLayout, engines: EngineHandle[]): Promise<void> {
  const work = join(layout.stateDir, "busybox");
  const tarball = join(work, "rootfs.tar");
  writeBusyboxRootfs(join(work, "rootfs"), tarball);
  await Promise.all(
    engines.map((engine) =>
      runChecked(["docker", "-H", `unix://${engine.socketPath}`, "import", "--change", 'CMD ["sh"]', tarball, "busybox:latest"], { timeoutMs: 120_000 }),
    ),
  );
  rmSync(work, { recursive: true, force: true });
}

/** `answers` tells when it serves: by default its banner read from here (before the security groups admit only the bastion). */
export async function startSshd(
  run: Run,
  layout: ClusterLayout,
  host: ClusterHost,
  authorizedKeys: string,
  answers = () => sshAnswers(host.address),
): Promise<void> {
  const dir = join(hostDir(layout, host), "ssh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKey = join(dir, "ssh_host_ed25519_key");
  // A host restarted as after a reboot keeps its key, as a VM does.
  if (!existsSync(hostKey)) await runChecked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `root@${host.name}`, "-f", hostKey]);
  const config = join(dir, "sshd_config");
  writeFileSync(config, sshdConfig({ port: SSH_PORT, hostKey, authorizedKeys, pidFile: join(dir, "sshd.pid") }));
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  const logFile = join(dir, "sshd.log");
  const daemon = await startDaemon(run, `${host.name}.sshd`, inHost(host, ["/usr/sbin/sshd", "-D", "-e", "-f", config]), logFile);
  await waitUntil(`sshd on ${host.name}`, daemon, logFile, answers);
}

/** The host's public key line, for known_hosts. */
export function sshHostKey(layout: ClusterLayout, host: ClusterHost): string {
  return readFileSync(join(layout.stateDir, "hosts", host.name, "ssh", "ssh_host_ed25519_key.pub"), "utf8")
    .split(" ")
    .slice(0, 2)
    .join(" ");
}

export async function sshAnswers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port: SSH_PORT, timeout: 2_000 });
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString("latin1").startsWith("SSH-2.0"));
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface ProxyInput {
  manager: ClusterHost;
  nodes: ClusterHost[];
  keystoneUrl: string;
  adminTenantId: string;
  bundle: string;
  tls: { certFile: string; keyFile: string };
}

/** The bundled proxy on Debian's Node 18, configured by the rendered proxy.env, nodes file and policy files. */
export async function startProxy(run: Run, layout: ClusterLayout, input: ProxyInput): Promise<string> {
  const dir = hostDir(layout, input.manager);
  const file = (name: string, content: string) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  const nodesFile = file("cluster.ips", renderNodesFile({ nodes: input.nodes.map((node) => ({ address: node.address, port: ENGINE_PORT })) }));
  const flavorsFile = file("flavors.json", renderProxyJson(FLAVORS));
  const quotaFile = file("quota.json", renderProxyJson(QUOTA));
  const proxyEnv = renderProxyEnv({
    listen: `0.0.0.0:${PROXY_PORT}`,
    nodesFile,
    authBackend: "keystone",
    keystoneUrl: input.keystoneUrl,
    adminTenantId: input.adminTenantId,
    multiTenant: true,
    networkAuthorization: true,
    flavorsFile,
    quotaFile,
    tls: input.tls,
    volumes: { kind: "shared-dir", root: volumeRoot(layout) },
    // The proxy runs as root here and chowns the shared directories itself (BERTH_VOLUME_OWNER).
    ...sandboxProxySettings(layout.sandbox),
  });
  file("proxy.env", proxyEnv);
  // The source map beside the bundle, under the name the bundle's last line gives it, as on the manager.
  const bundle = join(dir, "berth-proxy.cjs");
  copyFileSync(input.bundle, bundle);
  copyFileSync(`${input.bundle}.map`, `${bundle}.map`);
  const env = { PATH: process.env.PATH, LD_LIBRARY_PATH: NODE18_LIBS, ...PROXY_PROCESS.environment, ...shellAssignments(proxyEnv) };
  const logFile = join(dir, "proxy.log");
  const argv = ["nsenter", `--net=/var/run/netns/${input.manager.netns}`, NODE18, ...PROXY_PROCESS.nodeFlags, bundle];
  const daemon = await startDaemon(run, `${input.manager.name}.proxy`, argv, logFile, env);
  const caFile = layout.caFile;
  await waitUntil("the tenant proxy", daemon, logFile, () => proxyPing(input.manager.address, PROXY_PORT, caFile));
  return `tcp://${input.manager.address}:${PROXY_PORT}`;
}

/** The proxy's `_ping` over TLS, verified with the cluster's CA, as the connectivity smoke test asks it. */
export async function proxyPing(address: string, port: number, caFile: string): Promise<boolean> {
  return tlsPing(`https://${hostPort(address, port)}`, readFileSync(caFile, "utf8"), 2_000).then(
    () => true,
    () => false,
  );
}
