/**
 * What each kind of VM gets: packages, files, first-boot commands, the services that must run and
 * the checks that prove it. Pure: addresses and settings in, a RolePlan out. The same plan feeds the
 * VM's cloud-init user data (first boot) and its provisioning script (every `pulumi up`), so the two
 * can never drift apart.
 */
import type { ApiFilterFile } from "../tenant-proxy/src/policy/api-filter.ts";
import type { Flavors } from "../tenant-proxy/src/policy/flavors.ts";
import type { QuotaFile } from "../tenant-proxy/src/policy/quota.ts";
import type { AuthSettings } from "../tenant-proxy/src/settings-types.ts";
import {
  REMAP,
  type Sandbox,
  remapUserCommands,
  sandboxDockerDataRoot,
  sandboxDockerFlags,
  sandboxPackages,
  sandboxProxySettings,
  sandboxRuntimes,
} from "./sandbox.ts";
import type { EngineLine } from "./engine-line.ts";
import { CONTAINER_PORTS, ENGINE_PORT, ETCD_CLIENT_PORT, ETCD_LEGACY_CLIENT_PORT, ETCD_PEER_PORT, NFS_PORT, SWARM_MANAGEMENT_PORT } from "./ports.ts";
import {
  mountUnitName,
  NODE_FIREWALL_CHAINS,
  renderCloudInit,
  renderDockerAptPin,
  renderDockerDaemonJson,
  renderDockerDefaults,
  renderDockerStaleOverlay,
  renderDockerStaleOverlayDropIn,
  renderDockerGatewayBridgeDropIn,
  gatewayBridgeSubnet,
  GATEWAY_BRIDGE,
  renderEtcdDefaults,
  renderEtcdRestart,
  renderExports,
  renderNfsDisk,
  renderNfsMountUnit,
  renderNfsServerMounts,
  renderNodeFirewall,
  renderNodeFirewallUnit,
  renderNodesFile,
  renderOsdConfig,
  renderOsdUnit,
  renderProvisionScript,
  renderProxyEnv,
  renderProxyHealthCheck,
  renderProxyJson,
  renderProxyUnit,
  renderSwarm,
  renderWaitCloudInit,
  type ProvisionedFile,
  type ProxyVolumes,
  type Role,
  type ScriptCheck,
  type ScriptStep,
  type SshHostKey,
  type StagedFile,
  type SwarmInput,
  type SwarmNode,
} from "./render.ts";

export const PATHS = {
  dockerDefaults: "/etc/default/docker",
  dockerDaemonJson: "/etc/docker/daemon.json",
  dockerAptPin: "/etc/apt/preferences.d/berth-docker",
  dockerStaleOverlay: "/usr/local/sbin/berth-docker-stale-overlay",
  dockerStaleOverlayDropIn: "/etc/systemd/system/docker.service.d/berth-stale-overlay.conf",
  dockerGatewayBridgeDropIn: "/etc/systemd/system/docker.service.d/berth-gwbridge.conf",
  nodeFirewall: "/usr/local/sbin/berth-node-firewall",
  nodeFirewallUnit: "/etc/systemd/system/berth-node-firewall.service",
  osdDir: "/etc/berth/osd",
  osdConfigName: "config_nfs.yaml",
  osdUnit: "/etc/systemd/system/berth-osd.service",
  etcdDefaults: "/etc/default/etcd",
  etcdDropIn: "/etc/systemd/system/etcd.service.d/berth-restart.conf",
  etcdDataDir: "/var/lib/etcd/default",
  exports: "/etc/exports",
  nfsServerDropIn: "/etc/systemd/system/nfs-server.service.d/berth-mounts.conf",
  nfsDisk: "/usr/local/sbin/berth-nfs-disk",
  nfsData: "/srv/berth-nfs",
  proxyEnv: "/etc/berth/proxy.env",
  nodesFile: "/etc/berth/nodes",
  flavors: "/etc/berth/flavors.json",
  quota: "/etc/berth/quota.json",
  apiFilter: "/etc/berth/apifilter.json",
  caCert: "/etc/berth/tls/ca.pem",
  serverCert: "/etc/berth/tls/server.pem",
  serverKey: "/etc/berth/tls/server-key.pem",
  proxyBundle: "/usr/local/lib/berth/berth-proxy.cjs",
  /** Beside the bundle, under the name its last line (`//# sourceMappingURL=`) gives. */
  proxySourceMap: "/usr/local/lib/berth/berth-proxy.cjs.map",
  /** Where `pulumi up` copies the bundle and its source map before the provisioning script installs them. */
  proxyStaging: "/tmp/berth-proxy.cjs",
  proxySourceMapStaging: "/tmp/berth-proxy.cjs.map",
  proxyUnit: "/etc/systemd/system/berth-proxy.service",
} as const;

/** The volume directories of the admin guide's step 8, and where they live on the data volume. */
export const NFS_SHARES = [
  { path: "/var/lib/openstorage/nfs", directory: "openstorage-nfs" },
  { path: "/var/lib/osd/mounts", directory: "osd-mounts" },
] as const;
export const EXPORT_OPTIONS = ["rw", "sync", "no_subtree_check", "no_root_squash"];
const NFS_MOUNT_OPTIONS = `nfsvers=4.2,proto=tcp,port=${NFS_PORT},hard`;
const NFS_DATA_LABEL = "berth-nfs";

export const PROXY_UNIT = "berth-proxy.service";
export const PROXY_USER = "berth";
/** Debian 12's Node 18, from the nodejs package. */
const NODE_BINARY = "/usr/bin/node";
/**
 * How the proxy's process runs, here and wherever else the bundle runs (the bench, the local
 * cluster): stack traces mapped to the TypeScript sources through the bundle's source map beside it
 * (+3 MiB of memory at start), and glibc's malloc held to two arenas, which `npm run bench` measured
 * at 12-20 MiB less peak RSS through 20 concurrent clients at the same throughput. V8's heap is kept
 * close to what is live: a list of 200 containers parses into a few MiB that are garbage a moment
 * later, and with V8's defaults 20 clients listing at once grew the heap to 141-148 MiB of RSS. With
 * 2 MiB semi-spaces and the old space grown by 20% at a time: 89-91 MiB, at 200-206 calls/s against
 * 219-220 (the same run, 20 clients alternating inspect and list).
 */
export const PROXY_PROCESS = {
  nodeFlags: ["--enable-source-maps", "--max-semi-space-size=2", "--heap-growing-percent=20"],
  environment: { MALLOC_ARENA_MAX: "2" },
} as const;
const DOCKER_UNIT = "docker.service";
const FIREWALL_UNIT = "berth-node-firewall.service";
const OSD_UNIT = "berth-osd.service";
const OSD_CONTAINER = "berth-osd";

/**
 * Memory and swap limits for containers need the kernel's memory cgroup with swap accounting (the
 * admin guide's step 5). Changing the kernel command line takes a reboot, done once, early on the
 * first boot before anything else runs; the marker stops a reboot loop on an image whose boot
 * loader ignores the setting, and the provisioning check then says what is missing.
 */
const KERNEL_CGROUP_BOOTCMD =
  "grep -qw swapaccount=1 /proc/cmdline || [ -e /var/lib/berth/cgroup-reboot ] || " +
  "{ mkdir -p /etc/default/grub.d /var/lib/berth && " +
  `echo 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX cgroup_enable=memory swapaccount=1"' >/etc/default/grub.d/90-berth-cgroup.cfg && ` +
  "update-grub && touch /var/lib/berth/cgroup-reboot && systemctl --no-block reboot && sleep 300; }";

const WAIT_FOR_CLOUD_INIT = renderWaitCloudInit({
  timeoutSeconds: 1200,
  logLines: 40,
  outputLog: "/var/log/cloud-init-output.log",
  resultFile: "/run/cloud-init/result.json",
});

export interface RolePlan {
  role: Role;
  hostname: string;
  packages: string[];
  bootcmd: string[];
  runcmd: string[];
  /** Written by cloud-init on the first boot and by every provisioning run. */
  files: ProvisionedFile[];
  before: ScriptStep[];
  after: ScriptStep[];
  services: string[];
  checks: ScriptCheck[];
}

const file = (path: string, content: string, restarts: string[], mode = "0644", owner = "root:root"): ProvisionedFile => ({
  path,
  content,
  mode,
  owner,
  restarts,
});

const check = (description: string, command: string, timeoutSeconds = 60): ScriptCheck => ({ description, command, timeoutSeconds });

/** How a node's overlay networks span the cluster: the 20.10 line's etcd, or the current line's swarm (formed by swarm.sh). */
export type NodeOverlays = { line: "20.10"; etcdAddress: string } | { line: "current" };

export interface NodePlanInput {
  /** The node's name in berth:nodes. */
  hostname: string;
  address: string;
  overlays: NodeOverlays;
  nfsAddress: string;
  clusterCidr: string;
  dockerVersion: string;
  /** The engines' pool for bridge networks (berth:containerAddressPool). */
  containerAddressPool: string;
  clusterId: string;
  osd: { enabled: boolean; image: string };
  /** The VMs' network MTU. */
  mtu: number;
  /** berth:sandbox: the node remaps user namespaces, or has gVisor's runtime. */
  sandbox: Sandbox;
}

/**
 * The interfaces containers' traffic enters a node by: the default bridge, every user bridge
 * (`br-*`, per-tenant bridges included) and the bridge overlay networks' containers go out by.
 */
export const CONTAINER_BRIDGES = ["docker0", "br-+", GATEWAY_BRIDGE];

/**
 * The node firewall: containers reach nothing of their own node, and of the private network only
 * other nodes' published container ports (and DNS); never etcd, NFS or the metadata service.
 */
export function nodeFirewallScript(input: { clusterCidr: string; etcdAddress?: string; nfsAddress: string; containerAddressPool: string }): string {
  return renderNodeFirewall({
    clusterCidr: input.clusterCidr,
    containerPorts: CONTAINER_PORTS,
    protectedAddresses: [
      ...(input.etcdAddress ? [{ address: input.etcdAddress, service: "etcd" }] : []),
      { address: input.nfsAddress, service: "NFS" },
      { address: "169.254.169.254", service: "the metadata service" },
    ],
    bridges: CONTAINER_BRIDGES,
    gatewayBridgeSubnet: gatewayBridgeSubnet(input.containerAddressPool),
  });
}

/** The installed docker.io is the engine line's. */
function dockerLineCheck(line: EngineLine): ScriptCheck {
  return line === "20.10"
    ? check("docker.io is 20.10, which still has --cluster-store", "dpkg-query --show --showformat='${Version}' docker.io | grep -q '^20\\.10'", 5)
    : check(
        "docker.io is 23 or later, whose swarm carries the overlay networks",
        "dpkg --compare-versions \"$(dpkg-query --show --showformat='${Version}' docker.io)\" ge 23",
        5,
      );
}

/** The engine runs with the stack's sandbox. */
function sandboxChecks(sandbox: Sandbox): ScriptCheck[] {
  switch (sandbox) {
    case "userns":
      return [
        check(
          `the engine remaps user namespaces to ${REMAP.user} (${REMAP.firstId}+)`,
          `docker info --format '{{.DockerRootDir}}' | grep -q '/${REMAP.firstId}\\.${REMAP.firstId}$'`,
          10,
        ),
      ];
    case "gvisor":
      return [
        check("the engine has gVisor's runtime (runsc)", "runsc --version >/dev/null && docker info --format '{{json .Runtimes}}' | grep -q '\"runsc\"'", 10),
      ];
    case "none":
      return [];
  }
}

/**
 * Installs the packages a running VM lacks. cloud-init installs user data's `packages` on the first
 * boot only (cloud-init 22.4, cc_package_update_upgrade_install: once per instance); apt is asked
 * only when one is missing, so a provisioning run of an unchanged VM needs no mirror.
 */
function installedPackagesSteps(packages: string[]): ScriptStep[] {
  if (packages.length === 0) return [];
  const missing = packages.map((name) => `! dpkg-query --show --showformat='\${Status}' ${name} 2>/dev/null | grep -q 'install ok installed'`).join(" || ");
  return [
    {
      description: `the packages ${packages.join(", ")}, on a VM that booted without them`,
      command: `if ${missing}; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install --yes ${packages.join(" ")}; fi`,
    },
  ];
}

export function nodePlan(input: NodePlanInput): RolePlan {
  const mounts = NFS_SHARES.map((share) => ({ where: share.path, unit: mountUnitName(share.path) }));
  const etcdAddress = input.overlays.line === "20.10" ? input.overlays.etcdAddress : undefined;
  // The configuration refuses the plugin on the current line: it keeps its state in the 20.10 line's etcd.
  if (input.osd.enabled && !etcdAddress) throw new Error("the OpenStorage plugin needs the 20.10 line's etcd");
  const osdFiles = input.osd.enabled
    ? [
        file(
          PATHS.osdUnit,
          renderOsdUnit({
            image: input.osd.image,
            container: OSD_CONTAINER,
            configDir: PATHS.osdDir,
            configName: PATHS.osdConfigName,
            etcdAddress: etcdAddress!,
            etcdPort: ETCD_CLIENT_PORT,
            mounts: mounts.map((mount) => mount.where),
          }),
          [OSD_UNIT],
        ),
      ]
    : [];
  const osdUnits = input.osd.enabled ? [OSD_UNIT] : [];
  return {
    role: "node",
    hostname: input.hostname,
    packages: ["docker.io", "nfs-common", "curl", "python3", ...sandboxPackages(input.sandbox)],
    // The remap user exists before docker starts, at every boot, as dockerd needs it.
    bootcmd: [KERNEL_CGROUP_BOOTCMD, ...(input.sandbox === "userns" ? remapUserCommands() : [])],
    files: [
      file(PATHS.dockerAptPin, renderDockerAptPin({ version: input.dockerVersion, line: input.overlays.line }), []),
      file(
        PATHS.dockerDefaults,
        renderDockerDefaults({
          hostname: input.hostname,
          nodeAddress: input.address,
          enginePort: ENGINE_PORT,
          ...(etcdAddress ? { clusterStore: { etcdAddress, etcdPort: ETCD_CLIENT_PORT } } : {}),
          addressPool: input.containerAddressPool,
          mtu: input.mtu,
          sandboxFlags: sandboxDockerFlags(input.sandbox),
        }),
        [DOCKER_UNIT],
      ),
      file(PATHS.dockerDaemonJson, renderDockerDaemonJson({ runtimes: sandboxRuntimes(input.sandbox) }), [DOCKER_UNIT]),
      // Read at the engine's next start: a change restarts nothing.
      file(PATHS.dockerStaleOverlay, renderDockerStaleOverlay(), [], "0755"),
      file(
        PATHS.dockerStaleOverlayDropIn,
        renderDockerStaleOverlayDropIn({ scriptPath: PATHS.dockerStaleOverlay, dataRoot: sandboxDockerDataRoot(input.sandbox) }),
        [],
      ),
      // Read at the engine's next start; a node whose docker_gwbridge is on another subnet fails the check below.
      file(PATHS.dockerGatewayBridgeDropIn, renderDockerGatewayBridgeDropIn({ subnet: gatewayBridgeSubnet(input.containerAddressPool) }), []),
      // Not restarted when changed: docker.service requires the unit, so restarting it would restart
      // docker and stop every container. The provisioning run applies the script itself (below).
      file(
        PATHS.nodeFirewall,
        nodeFirewallScript({
          clusterCidr: input.clusterCidr,
          ...(etcdAddress ? { etcdAddress } : {}),
          nfsAddress: input.nfsAddress,
          containerAddressPool: input.containerAddressPool,
        }),
        [],
        "0755",
      ),
      file(PATHS.nodeFirewallUnit, renderNodeFirewallUnit({ scriptPath: PATHS.nodeFirewall }), []),
      ...NFS_SHARES.map((share, index) =>
        file(
          `/etc/systemd/system/${mounts[index]!.unit}`,
          renderNfsMountUnit({ server: input.nfsAddress, remotePath: share.path, where: share.path, options: NFS_MOUNT_OPTIONS }),
          [mounts[index]!.unit],
        ),
      ),
      file(
        `${PATHS.osdDir}/${PATHS.osdConfigName}`,
        renderOsdConfig({ clusterId: input.clusterId, nodeId: input.hostname, nfsServer: input.nfsAddress, nfsPath: NFS_SHARES[0].path }),
        osdUnits,
      ),
      ...osdFiles,
    ],
    // The NFS server may not be up yet on the first boot: the mounts are enabled, and started by
    // the provisioning run, which comes after the NFS server's.
    runcmd: ["systemctl daemon-reload", `systemctl enable --now ${FIREWALL_UNIT}`, `systemctl enable ${mounts.map((mount) => mount.unit).join(" ")}`],
    before: [
      // A running node never reads its user data again (host.ts ignores userData changes): a stack
      // that turns gvisor on in place installs runsc here, before docker restarts with it.
      ...installedPackagesSteps(sandboxPackages(input.sandbox)),
      // A running node that turns userns on restarts docker with the new DOCKER_OPTS: the user must be there first.
      ...(input.sandbox === "userns"
        ? [{ description: `the remap user ${REMAP.user} and its ids, before docker restarts`, command: remapUserCommands().join(" && ") }]
        : []),
    ],
    after: [{ description: "apply the node firewall now (its unit applies it at every boot, before docker)", command: PATHS.nodeFirewall }],
    services: [DOCKER_UNIT, FIREWALL_UNIT, ...mounts.map((mount) => mount.unit), ...osdUnits],
    checks: [
      check("the kernel runs with memory cgroup swap accounting (cgroup_enable=memory swapaccount=1)", "grep -qw swapaccount=1 /proc/cmdline", 5),
      dockerLineCheck(input.overlays.line),
      ...sandboxChecks(input.sandbox),
      check(`the engine answers on ${input.address}:${ENGINE_PORT}`, `test "$(curl --silent --max-time 5 http://${input.address}:${ENGINE_PORT}/_ping)" = OK`),
      // The current line's nodes join their swarm after every node is provisioned (swarm.sh, run from the manager).
      ...(etcdAddress
        ? [
            check(
              "the engine registered in etcd (overlay networks span the nodes)",
              `curl --silent --fail --max-time 5 http://${etcdAddress}:${ETCD_CLIENT_PORT}/v2/keys/docker/nodes/${input.address}:${ENGINE_PORT} >/dev/null`,
              120,
            ),
          ]
        : []),
      check(
        "containers are kept off the node and the cluster's services (the node firewall)",
        `iptables -C INPUT -i docker0 -j ${NODE_FIREWALL_CHAINS.toNode} && iptables -C DOCKER-USER -i docker0 -j ${NODE_FIREWALL_CHAINS.toCluster} && ebtables -L FORWARD | grep -qF -- "-j ${NODE_FIREWALL_CHAINS.gatewayBridgeArp}"`,
        30,
      ),
      check(
        `${GATEWAY_BRIDGE} is on ${gatewayBridgeSubnet(input.containerAddressPool)}, where the node firewall keeps ARP between its containers`,
        `test "$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' ${GATEWAY_BRIDGE})" = ${gatewayBridgeSubnet(input.containerAddressPool)}`,
        60,
      ),
      ...mounts.map((mount) => check(`the NFS share is mounted at ${mount.where}`, `mountpoint -q ${mount.where}`)),
      ...(input.osd.enabled
        ? [check("the OpenStorage driver runs", `test "$(docker inspect --format '{{.State.Running}}' ${OSD_CONTAINER})" = true`, 120)]
        : []),
    ],
  };
}

export interface NfsPlanInput {
  hostname: string;
  /** The private network the docker nodes live on. */
  clientCidr: string;
  dataVolumeId: string;
  /** GB; part of the script, so a raised size provisions the server again and the disk script grows the filesystem. */
  dataVolumeSize: number;
}

export function nfsPlan(input: NfsPlanInput): RolePlan {
  const prepareDisk = {
    description: `format (once), mount and grow to the volume (${input.dataVolumeSize} GB) the data volume and the shared directories`,
    command: PATHS.nfsDisk,
  };
  return {
    role: "nfs",
    hostname: input.hostname,
    packages: ["nfs-kernel-server"],
    bootcmd: [],
    files: [
      file(
        PATHS.nfsDisk,
        renderNfsDisk({ volumeSerial: input.dataVolumeId.slice(0, 20), label: NFS_DATA_LABEL, mountPoint: PATHS.nfsData, shares: [...NFS_SHARES] }),
        [],
        "0755",
      ),
      file(PATHS.exports, renderExports({ clientCidr: input.clientCidr, shares: NFS_SHARES.map((share) => share.path), options: EXPORT_OPTIONS }), [
        "nfs-server.service",
      ]),
      file(PATHS.nfsServerDropIn, renderNfsServerMounts({ paths: [PATHS.nfsData, ...NFS_SHARES.map((share) => share.path)] }), []),
    ],
    runcmd: [PATHS.nfsDisk, "systemctl daemon-reload", "systemctl restart nfs-server.service"],
    before: [],
    after: [prepareDisk],
    services: ["nfs-server.service"],
    checks: [
      check(`the data volume is mounted at ${PATHS.nfsData}`, `mountpoint -q ${PATHS.nfsData}`, 5),
      ...NFS_SHARES.map((share) =>
        check(`${share.path} is exported to ${input.clientCidr}`, `exportfs -s | grep -q '^${share.path}[[:space:]]*${input.clientCidr}('`, 30),
      ),
    ],
  };
}

export interface EtcdPlanInput {
  hostname: string;
  address: string;
  clusterToken: string;
}

export function etcdPlan(input: EtcdPlanInput): RolePlan {
  const url = (port: number) => `http://${input.address}:${port}`;
  return {
    role: "etcd",
    hostname: input.hostname,
    packages: ["etcd-server", "curl"],
    bootcmd: [],
    files: [
      file(
        PATHS.etcdDefaults,
        renderEtcdDefaults({
          name: input.hostname,
          address: input.address,
          clientPort: ETCD_CLIENT_PORT,
          legacyClientPort: ETCD_LEGACY_CLIENT_PORT,
          peerPort: ETCD_PEER_PORT,
          clusterToken: input.clusterToken,
          dataDir: PATHS.etcdDataDir,
        }),
        ["etcd.service"],
      ),
      file(PATHS.etcdDropIn, renderEtcdRestart({ restartSeconds: 5 }), ["etcd.service"]),
    ],
    runcmd: [],
    before: [],
    after: [],
    services: ["etcd.service"],
    checks: [
      check("etcd is healthy", `curl --silent --fail --max-time 5 ${url(ETCD_CLIENT_PORT)}/health | grep -q '"health":"true"'`),
      check("etcd serves the v2 API that docker's --cluster-store speaks", `curl --silent --fail --max-time 5 ${url(ETCD_CLIENT_PORT)}/v2/keys/ >/dev/null`),
      check(
        `etcd answers on the legacy client port ${ETCD_LEGACY_CLIENT_PORT}`,
        `curl --silent --fail --max-time 5 ${url(ETCD_LEGACY_CLIENT_PORT)}/health >/dev/null`,
      ),
    ],
  };
}

/**
 * The tenant proxy's settings (FDCS's SWARM_*), as the stack configures them, in the proxy's own
 * types: the files are the proxy's formats, and the proxy's reader checks the whole at preview
 * (proxy-check.ts).
 */
export interface ProxySettings {
  port: number;
  /** The static tokens backend is for the local cluster, never a stack. */
  authBackend: Exclude<AuthSettings["backend"], "static">;
  keystoneUrl?: string;
  adminTenantId?: string;
  membersTenantId?: string;
  multiTenant: boolean;
  networkAuthorization: boolean;
  /** Memory sizes (MB) by name, with a "default". */
  flavors?: Flavors;
  quota?: QuotaFile;
  apiFilter?: ApiFilterFile;
}

export interface ManagerPlanInput {
  hostname: string;
  proxy: ProxySettings;
  /** The engines the proxy spreads over: the nodes' private addresses, in berth:nodes order. */
  engines: Array<{ address: string; port: number }>;
  /** The NFS server: the manager mounts its volume share to make the tenants' volume directories. */
  nfsAddress: string;
  /** With the OpenStorage plugin on the nodes, volumes go through it instead of NFS options. */
  osd: { enabled: boolean };
  /** The VMs' network MTU: the proxy fits tenants' networks in it. */
  mtu: number;
  /** berth:sandbox: the proxy's tenants' runtime, and who owns volume directories. */
  sandbox: Sandbox;
}

/**
 * Tenants' named volumes, in a directory of the first share that the proxy's user owns: the proxy
 * (not root) makes a directory per volume there, and the engines, as root on an export with
 * no_root_squash, mount and write it.
 */
export const VOLUME_ROOT = `${NFS_SHARES[0].path}/berth-volumes`;

export function managerPlan(input: ManagerPlanInput): RolePlan {
  const { proxy } = input;
  const { tenantRuntime } = sandboxProxySettings(input.sandbox);
  const share = NFS_SHARES[0].path;
  const mount = { where: share, unit: mountUnitName(share) };
  // After the files are written and before the proxy starts: the mount must be up to make the directory in it.
  const makeVolumeRoot = {
    description: "the NFS share mounted and the proxy's directory for tenants' volumes in it",
    command: `systemctl daemon-reload && systemctl enable --now ${mount.unit} && install -d -o ${PROXY_USER} -m 0755 ${VOLUME_ROOT}`,
  };
  const restartsProxy = [PROXY_UNIT];
  const jsonFile = (path: string, value: unknown) => (value === undefined ? [] : [file(path, renderProxyJson(value), restartsProxy)]);
  return {
    role: "manager",
    hostname: input.hostname,
    // jq: the current line's swarm script (swarmScriptFor) reads the engines' answers with it here.
    packages: ["nodejs", "nfs-common", "curl", "ca-certificates", "jq"],
    bootcmd: [],
    files: [
      file(`/etc/systemd/system/${mount.unit}`, renderNfsMountUnit({ server: input.nfsAddress, remotePath: share, where: share, options: NFS_MOUNT_OPTIONS }), [
        mount.unit,
      ]),
      file(
        PATHS.proxyEnv,
        renderProxyEnv({
          listen: `0.0.0.0:${proxy.port}`,
          nodesFile: PATHS.nodesFile,
          authBackend: proxy.authBackend,
          multiTenant: proxy.multiTenant,
          networkAuthorization: proxy.networkAuthorization,
          tls: { certFile: PATHS.serverCert, keyFile: PATHS.serverKey },
          ...(proxy.keystoneUrl ? { keystoneUrl: proxy.keystoneUrl } : {}),
          ...(proxy.adminTenantId ? { adminTenantId: proxy.adminTenantId } : {}),
          ...(proxy.membersTenantId ? { membersTenantId: proxy.membersTenantId } : {}),
          ...(proxy.flavors !== undefined ? { flavorsFile: PATHS.flavors } : {}),
          ...(proxy.quota !== undefined ? { quotaFile: PATHS.quota } : {}),
          ...(proxy.apiFilter !== undefined ? { apiFilterFile: PATHS.apiFilter } : {}),
          volumes: proxyVolumes(input),
          networkMtu: input.mtu,
          // BERTH_VOLUME_OWNER stays unset: over NFS the proxy cannot chown, so under userns the
          // proxy's own user has the remapped root's uid (addProxyUser) and owns what it makes.
          ...(tenantRuntime ? { tenantRuntime } : {}),
        }),
        restartsProxy,
      ),
      file(PATHS.nodesFile, renderNodesFile({ nodes: input.engines }), restartsProxy),
      ...jsonFile(PATHS.flavors, proxy.flavors),
      ...jsonFile(PATHS.quota, proxy.quota),
      ...jsonFile(PATHS.apiFilter, proxy.apiFilter),
      file(
        PATHS.proxyUnit,
        renderProxyUnit({
          user: PROXY_USER,
          environmentFile: PATHS.proxyEnv,
          nodeBinary: NODE_BINARY,
          ...PROXY_PROCESS,
          bundlePath: PATHS.proxyBundle,
          writablePaths: proxyWritablePaths(proxyVolumes(input)),
        }),
        restartsProxy,
      ),
    ],
    // The bundle and the TLS key arrive with the provisioning run, which starts the proxy.
    runcmd: [addProxyUser(input.sandbox), "systemctl daemon-reload", `systemctl enable ${mount.unit}`],
    before: [{ description: `the system user the proxy runs as`, command: addProxyUser(input.sandbox) }],
    after: [makeVolumeRoot],
    services: [mount.unit, PROXY_UNIT],
    checks: [
      check(`the NFS share is mounted at ${share}`, `mountpoint -q ${share}`),
      check("the tenant proxy runs", `systemctl is-active --quiet ${PROXY_UNIT}`, 30),
      ...(input.sandbox === "userns"
        ? [
            check(
              `the proxy's user is the nodes' remapped root (${REMAP.firstId}), so containers' root owns the volume directories it makes`,
              `test "$(id -u ${PROXY_USER})" = ${REMAP.firstId}`,
              5,
            ),
          ]
        : []),
    ],
  };
}

/** Where the proxy keeps tenants' named volumes: through the OpenStorage plugin, or directories on the NFS share. */
function proxyVolumes(input: ManagerPlanInput): ProxyVolumes {
  return input.osd.enabled ? { kind: "osd", driver: "nfs" } : { kind: "nfs", server: input.nfsAddress, export: VOLUME_ROOT, root: VOLUME_ROOT };
}

/** What the proxy writes: the volume root its settings name (the osd plugin makes volumes itself). */
export function proxyWritablePaths(volumes: ProxyVolumes): string[] {
  return volumes.kind === "osd" ? [] : [volumes.root];
}

const PROXY_HEALTH_TIMEOUT_SECONDS = 90;

/**
 * The check `pulumi up` runs after the proxy is provisioned: `_ping` through TLS at the address
 * tenants use, and what every tenant request depends on (engines, Keystone, the volume root).
 */
export function proxyHealthCheckFor(input: ManagerPlanInput, publicAddress: string): string {
  const volumes = proxyVolumes(input);
  const writable = proxyWritablePaths(volumes);
  return renderProxyHealthCheck({
    address: publicAddress,
    port: input.proxy.port,
    connectTo: "127.0.0.1",
    caFile: PATHS.caCert,
    timeoutSeconds: PROXY_HEALTH_TIMEOUT_SECONDS,
    unit: PROXY_UNIT,
    user: PROXY_USER,
    engines: input.engines,
    ...(input.proxy.authBackend === "keystone" && input.proxy.keystoneUrl ? { keystoneUrl: input.proxy.keystoneUrl } : {}),
    ...(writable[0] !== undefined ? { volumeRoot: writable[0] } : {}),
  });
}

/**
 * The proxy's system user. Under userns its uid is the nodes' remapped root: the volume directories
 * it makes on the NFS share then belong to every container's root. A manager that made the user
 * before the stack chose userns keeps its uid, and the manager's check says so.
 */
function addProxyUser(sandbox: Sandbox): string {
  const uid = sandbox === "userns" ? ` --uid ${REMAP.firstId}` : "";
  return `id -u ${PROXY_USER} >/dev/null 2>&1 || useradd --system${uid} --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${PROXY_USER}`;
}

/** The proxy's TLS material: provisioning only, never user data (the key is a secret). */
export function proxyTlsFiles(tls: { caCert: string; serverCert: string; serverKey: string }): ProvisionedFile[] {
  return [
    file(PATHS.caCert, tls.caCert, [PROXY_UNIT]),
    file(PATHS.serverCert, tls.serverCert, [PROXY_UNIT]),
    file(PATHS.serverKey, tls.serverKey, [PROXY_UNIT], "0640", `root:${PROXY_USER}`),
  ];
}

/**
 * The login user's authorized_keys: provisioning only (cloud-init writes files before it creates
 * the user), rewritten on every run so that a rotated key replaces the old one.
 */
export function authorizedKeysFile(user: string, publicKeys: string[]): ProvisionedFile {
  return file(`/home/${user}/.ssh/authorized_keys`, publicKeys.map((key) => `${key.trim()}\n`).join(""), [], "0600", `${user}:${user}`);
}

/** The staged proxy bundle and its source map, each checked against the hash of the file `pulumi up` copied. */
export function proxyBundleFiles(bundle: { sha256: string; sourceMap: { sha256: string } }): StagedFile[] {
  const staged = (path: string, source: string, sha256: string): StagedFile => ({
    path,
    source,
    sha256,
    mode: "0644",
    owner: "root:root",
    restarts: [PROXY_UNIT],
  });
  return [staged(PATHS.proxyBundle, PATHS.proxyStaging, bundle.sha256), staged(PATHS.proxySourceMap, PATHS.proxySourceMapStaging, bundle.sourceMap.sha256)];
}

/** How long the swarm's manager may take to list every node ready. */
const SWARM_READY_SECONDS = 120;

/** The current line's swarm over the nodes, in berth:nodes order: the first one manages it. */
export function swarmInput(nodes: SwarmNode[], addressPool: string): SwarmInput {
  const [manager, ...workers] = nodes;
  if (!manager) throw new Error("a swarm needs at least one node");
  return { manager, workers, enginePort: ENGINE_PORT, swarmPort: SWARM_MANAGEMENT_PORT, addressPool, readySeconds: SWARM_READY_SECONDS };
}

/**
 * The script that forms the current line's swarm, run on the manager VM once every node is
 * provisioned: after cloud-init, which installs the jq it reads the engines' answers with.
 */
export function swarmScriptFor(nodes: SwarmNode[], addressPool: string): string {
  return `${WAIT_FOR_CLOUD_INIT}\n${renderSwarm(swarmInput(nodes, addressPool))}`;
}

/** The plan's first-boot user data, with the SSH host key the stack made for the VM. */
export function cloudInitFor(plan: RolePlan, hostKey?: SshHostKey): string {
  return renderCloudInit(plan.role, {
    hostname: plan.hostname,
    packages: plan.packages,
    bootcmd: plan.bootcmd,
    files: plan.files.map(({ path, content, mode, owner }) => ({ path, content, mode, owner })),
    runcmd: plan.runcmd,
    ...(hostKey ? { hostKey } : {}),
  });
}

/** The plan's provisioning script, with files only provisioning may carry (secrets, staged copies). */
export function provisionScriptFor(plan: RolePlan, extra: { files?: ProvisionedFile[]; staged?: StagedFile[] } = {}): string {
  return renderProvisionScript(plan.role, {
    hostname: plan.hostname,
    waitCloudInit: WAIT_FOR_CLOUD_INIT,
    before: plan.before,
    files: [...plan.files, ...(extra.files ?? [])],
    staged: extra.staged ?? [],
    after: plan.after,
    services: plan.services,
    checks: plan.checks,
  });
}
