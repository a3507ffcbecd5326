/**
 * `up`, `down` and `status` of the local cluster. `up` is idempotent: a complete, healthy cluster is
 * left as it is (only tokens near their expiry are renewed), anything else that a previous `up`
 * left (a half-built or broken cluster) is torn down from its ledger and built again, and the
 * user is told which of these happened. `down` releases whatever the ledger lists, in the
 * harness's order (daemons, namespaces, the FORWARD rule, the bridge), then the folders `up` made.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { buildProxyBundle } from "../build-proxy.ts";
import { step, table } from "../lib/console.ts";
import { NODE18 } from "../lib/node18.ts";
import { runCommand, startSharedKeystone, entries, type LedgerEntry, createBridge, createHost, identify, releaseAll, type Run } from "../harness/index.ts";
import {
  applyNodeFirewall,
  applySecurityGroups,
  importBusybox,
  PROXY_PORT,
  sshHostKey,
  startEngine,
  startEtcd,
  startNfs,
  startProxy,
  startSshd,
  type ClusterHost,
} from "./daemons.ts";
import { checkHealth, daemonPids, healthTable, readState, stateFile, type ClusterState } from "./health.ts";
import { HOSTS, KEYSTONE_PORT, TENANTS, TOKEN_LIFETIME_SECONDS, TOKEN_RENEWAL_MS, madePaths, netnsName, runIndex, type ClusterLayout } from "./layout.ts";
import { rebootNode } from "./reboot.ts";
import { createTenants, envFile, localInventory, sshConfig, writeTenantConfigs } from "./outputs.ts";
import { makePasswords, makeSshKey, makeTls, readPasswords } from "./secrets.ts";

const REQUIRED = [
  "/usr/sbin/dockerd",
  "/usr/bin/etcd",
  "/usr/bin/ganesha.nfsd",
  "/usr/bin/uwsgi",
  "/usr/bin/keystone-manage",
  "/usr/sbin/sshd",
  "/usr/bin/nfs-cat",
  "/bin/busybox",
  "/usr/bin/openssl",
  "/usr/bin/python3",
];

function checkPrerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error("the local cluster makes network namespaces, a bridge and iptables rules: run it as root");
  const missing = [...REQUIRED, NODE18].filter((path) => !existsSync(path));
  if (missing.length > 0) throw new Error(`missing ${missing.join(", ")}: run scripts/install-deps.sh first`);
}

function clusterRun(layout: ClusterLayout): Run {
  return { dir: layout.stateDir, index: runIndex(layout), owner: identify(process.pid), bridge: layout.bridge, subnetPrefix: layout.subnetPrefix };
}

// ---------------------------------------------------------------------------------------------
// up

export async function up(layout: ClusterLayout): Promise<void> {
  checkPrerequisites();
  const started = Date.now();
  const state = readState(layout);
  if (state) {
    const health = await checkHealth(layout, state);
    const failing = health.filter((part) => !part.healthy);
    if (failing.length === 0) {
      await renewTokens(layout, state);
      console.log("The local cluster is already up and healthy: nothing changed.");
      printSummary(layout, state);
      return;
    }
    step(`the cluster is broken (${failing.map((part) => `${part.part} on ${part.host}`).join(", ")} down): tearing it down and rebuilding`);
    await tearDown(layout);
  } else if (existsSync(layout.stateDir)) {
    step("a previous `up` did not finish: tearing down what it left and rebuilding");
    await tearDown(layout);
  }
  await assertNetworkFree(layout);
  const built = await build(layout);
  printSummary(layout, built);
  console.log(`\nup in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** A bridge or namespace of this name that no ledger of ours lists belongs to someone else. */
async function assertNetworkFree(layout: ClusterLayout): Promise<void> {
  if ((await runCommand(["ip", "link", "show", layout.bridge])).code === 0) {
    throw new Error(`a network interface ${layout.bridge} already exists and is not this cluster's; remove it or set BERTH_CLUSTER_BRIDGE`);
  }
  const taken = HOSTS.map((host) => netnsName(layout, host.name)).filter((netns) => existsSync(`/var/run/netns/${netns}`));
  if (taken.length > 0)
    throw new Error(`network namespaces ${taken.join(", ")} already exist and are not this cluster's; remove them or set BERTH_CLUSTER_NETNS_PREFIX`);
}

async function build(layout: ClusterLayout): Promise<ClusterState> {
  const run = clusterRun(layout);
  step("building the proxy bundle (npm run build)");
  const bundle = await buildProxyBundle();

  step(`bridge ${layout.bridge} (${layout.subnet}) and a network namespace per host`);
  const hosts = await createNetwork(run, layout);
  const [manager, nodes, nfs, etcd] = [
    hosts.find((h) => h.role === "manager")!,
    hosts.filter((h) => h.role === "node"),
    hosts.find((h) => h.role === "nfs")!,
    hosts.find((h) => h.role === "etcd")!,
  ];

  step("TLS (a CA and the proxy's certificate), the root SSH key, the tenants' passwords");
  const tls = await makeTls(layout.tlsDir, manager.address);
  const ssh = await makeSshKey(layout.sshDir);
  const passwords = makePasswords(
    layout.passwordsFile,
    TENANTS.flatMap((tenant) => [...tenant.users]),
  );

  step("etcd, nfs-ganesha, Keystone and sshd on every host");
  const keystoneStarting = startSharedKeystone(run, {
    netns: manager.netns,
    host: manager.address,
    port: KEYSTONE_PORT,
    tokenExpirationSeconds: TOKEN_LIFETIME_SECONDS,
  });
  keystoneStarting.catch(() => {}); // awaited below; a failure elsewhere first must not go unhandled
  await Promise.all([
    startEtcd(run, layout, etcd),
    startNfs(run, layout, nfs, nodes[0]!),
    ...hosts.map((host) => startSshd(run, layout, host, ssh.authorizedKeys)),
  ]);

  step("the node firewall on each docker host, before its dockerd starts (as at a VM's boot)");
  await Promise.all(nodes.map((node) => applyNodeFirewall(layout, node, etcd, nfs)));

  step(`dockerd on ${nodes.map((node) => node.name).join(" and ")} (cluster store: etcd), busybox:latest on each`);
  const engines = await Promise.all(nodes.map((node) => startEngine(run, layout, node, etcd)));
  await importBusybox(layout, engines);

  step("Keystone: the transcript's projects and users");
  const keystone = await keystoneStarting;
  const projectIds = await createTenants(keystone, passwords);
  const keystoneUrl = `${keystone.url}/v3`;

  step("the tenant proxy (bundle on Node 18) in front of both engines");
  const adminProjectId = projectIds[TENANTS.find((tenant) => "admin" in tenant)!.project]!;
  const endpoint = await startProxy(run, layout, {
    manager,
    nodes,
    keystoneUrl,
    adminTenantId: adminProjectId,
    bundle,
    tls: { certFile: tls.certFile, keyFile: tls.keyFile },
  });

  step("the security groups of infra/rules.ts on every host");
  await applySecurityGroups(hosts, { hosts, operatorAddress: `${layout.subnetPrefix}.0.1`, proxyPort: PROXY_PORT, keystonePort: KEYSTONE_PORT });

  step("writing .local/: inventory.json, env, ssh config, a docker config dir per user");
  const tokens = await writeTenantConfigs(layout.tenantsDir, keystoneUrl, passwords, endpoint, tls.caFile);
  const inventory = localInventory(layout, { manager, nodes, nfs, etcd, proxyPort: PROXY_PORT, keystoneUrl, caFile: tls.caFile });
  writeFileSync(layout.inventoryFile, `${JSON.stringify(inventory, null, 2)}\n`);
  writeFileSync(layout.envFile, envFile(layout.tenantsDir, endpoint));
  writeSshClientFiles(layout, hosts, ssh.privateKey);

  const state: ClusterState = { hosts, engines, keystoneUrl, endpoint, proxyPort: PROXY_PORT, adminProjectId, tokens };
  writeFileSync(stateFile(layout), `${JSON.stringify(state, null, 2)}\n`);
  return state;
}

/** Whether any user's token expires within a day of `now` (then all are issued again). */
export function tokensNeedRenewal(tokens: Array<{ expiresAt: string }>, now: number): boolean {
  return tokens.some((token) => !(Date.parse(token.expiresAt) > now + TOKEN_RENEWAL_MS));
}

/** The bridge and the hosts' namespaces, one after the other so the addresses are .0.10, .0.11, ... in HOSTS order. */
async function createNetwork(run: Run, layout: ClusterLayout): Promise<ClusterHost[]> {
  await createBridge(run);
  const hosts: ClusterHost[] = [];
  for (const spec of HOSTS) {
    const created = await createHost(run, netnsName(layout, spec.name));
    hosts.push({ name: spec.name, role: spec.role, netns: created.netns, address: created.address });
  }
  return hosts;
}

/** known_hosts with every host's key, and the ssh_config that reaches the others through the manager. */
function writeSshClientFiles(layout: ClusterLayout, hosts: ClusterHost[], privateKey: string): void {
  const knownHosts = join(layout.sshDir, "known_hosts");
  writeFileSync(knownHosts, hosts.map((host) => `${host.address} ${sshHostKey(layout, host)}\n`).join(""));
  writeFileSync(join(layout.sshDir, "config"), sshConfig(hosts, privateKey, knownHosts));
}

async function renewTokens(layout: ClusterLayout, state: ClusterState): Promise<void> {
  if (!tokensNeedRenewal(state.tokens, Date.now())) return;
  step("tokens expire within a day: issuing new ones into the tenants' config dirs");
  const tokens = await writeTenantConfigs(layout.tenantsDir, state.keystoneUrl, readPasswords(layout.passwordsFile), state.endpoint, layout.caFile);
  writeFileSync(stateFile(layout), `${JSON.stringify({ ...state, tokens }, null, 2)}\n`);
}

function printSummary(layout: ClusterLayout, state: ClusterState): void {
  const show = (path: string) => relative(process.cwd(), path) || path;
  const roles: Record<ClusterHost["role"], string> = {
    manager: "tenant proxy :2376 (TLS), Keystone :5000",
    node: "dockerd :2375",
    nfs: "nfs-ganesha (NFSv4/TCP)",
    etcd: "etcd :2379 (v2 API)",
  };
  console.log(`\nberth local cluster (${layout.bridge}, ${layout.subnet})\n`);
  console.log(
    table([["HOST", "ADDRESS", "NAMESPACE", "RUNS"], ...state.hosts.map((host) => [host.name, host.address, host.netns, `${roles[host.role]}, sshd`])]),
  );
  console.log("");
  console.log(
    table([
      ["USER", "PROJECT", "TOKEN EXPIRES", "TRY"],
      ...state.tokens.map((token) => [
        token.user,
        token.project,
        token.expiresAt.replace(/\.\d+Z$/, "Z"),
        `docker --config ${show(join(layout.tenantsDir, token.user))} ps`,
      ]),
    ]),
  );
  console.log(`
Proxy: ${state.endpoint} (CA ${show(layout.caFile)}); Keystone: ${state.keystoneUrl}; passwords in ${show(layout.passwordsFile)}.
Each config dir carries the proxy as its docker context; \`. ${show(layout.envFile)}\` sets DOCKER_HOST and TLS for other tools.
SSH: ssh -F ${show(join(layout.sshDir, "config"))} docker-host-1   (through berth-manager). Inventory: ${show(layout.inventoryFile)}.
Volumes live in nfs-ganesha's export, bound directly by the engines (this kernel has no NFS client).
Stop and remove everything: npm run cluster:down`);
}

// ---------------------------------------------------------------------------------------------
// down

/** How `down` names what it released: the namespace's name, not its ledger id. */
function describe(entry: LedgerEntry): string {
  switch (entry.kind) {
    case "dockerd":
    case "daemon":
      return `${entry.id.replace(/\.daemon$/, "")} (pid ${entry.process.pid})`;
    case "netns":
      return `network namespace ${entry.netns} (veth ${entry.veth})`;
    case "forward-rule":
      return `iptables rule ${entry.rule.join(" ")}`;
    case "bridge":
      return `bridge ${entry.bridge}`;
  }
}

async function tearDown(layout: ClusterLayout): Promise<string[]> {
  const listed = new Map(entries(layout.stateDir).map((entry) => [`${entry.kind} ${entry.id}`, describe(entry)]));
  const released = (await releaseAll(layout.stateDir)).map((thing) => listed.get(thing) ?? thing);
  const removed = madePaths(layout).filter((path) => existsSync(path));
  for (const path of removed) rmSync(path, { recursive: true, force: true });
  if (existsSync(layout.localDir) && readdirSync(layout.localDir).length === 0) rmSync(layout.localDir, { recursive: true });
  return [...released, ...removed];
}

export async function down(layout: ClusterLayout): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("removing namespaces, a bridge and iptables rules needs root");
  step(`stopping the local cluster (${layout.bridge}, ${layout.subnet})`);
  const started = Date.now();
  const removed = await tearDown(layout);
  if (removed.length === 0) {
    console.log("Nothing to remove: no local cluster here.");
    return;
  }
  for (const thing of removed) console.log(`removed ${thing}`);
  console.log(`\ndown in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------
// reboot (a docker host restarted as after a power cut; see ./reboot.ts)

export async function reboot(layout: ClusterLayout, name: string): Promise<void> {
  checkPrerequisites();
  const started = Date.now();
  await rebootNode(clusterRun(layout), layout, name);
  console.log(`\n${name} is up again in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------
// status

/** Prints the parts and their health; returns whether all are up. */
export async function status(layout: ClusterLayout): Promise<boolean> {
  const state = readState(layout);
  if (!state) {
    const leftovers = entries(layout.stateDir).length;
    console.log(
      leftovers > 0
        ? `The local cluster is half up (${leftovers} things in its ledger, no complete state): run up to rebuild or down to remove.`
        : "No local cluster is up.",
    );
    return false;
  }
  const health = await checkHealth(layout, state);
  console.log(healthTable(health));
  const failing = health.filter((part) => !part.healthy).length;
  console.log(failing === 0 ? "\nall parts up" : `\n${failing} part(s) down: \`up\` rebuilds the cluster, \`down\` removes it`);
  return failing === 0;
}

export { daemonPids };
