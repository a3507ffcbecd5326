/**
 * The engines' and etcd's rendered settings, accepted by the real daemons (Debian 12's dockerd
 * 20.10 and etcd 3.4), started the way Debian's units start them:
 *
 *   etcd.service:   /usr/bin/etcd, with /etc/default/etcd as its environment
 *   docker.service: dockerd -H fd:// $DOCKER_OPTS, with /etc/default/docker as its environment and
 *                   /var/run/docker.sock handed over by docker.socket (systemd-socket-activate here)
 *
 * Both run in a throwaway network namespace whose only address is the "VM's" private address, so
 * the rendered addresses are used unchanged and no traffic leaves the namespace. dockerd gets its
 * own data root, exec root, pidfile and socket; --containerd is left out because the machine's own
 * containerd is not ours to use (dockerd then starts its own). Everything started here is stopped
 * by PID in afterAll, pass or fail.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINE_PORT, ETCD_CLIENT_PORT, ETCD_LEGACY_CLIENT_PORT } from "../../infra/ports.ts";
import { NODE_FIREWALL_CHAINS } from "../../infra/render.ts";
import { etcdPlan, nodePlan, PATHS, type RolePlan } from "../../infra/roles.ts";
import { execStartWords, parseEnvironmentFile } from "../../infra/environment-file.ts";
import { TEST_IMAGE, testImageTar } from "../../scripts/harness/index.ts";

const NETNS = `berthinfra-${process.pid}`;
/** The "VM's" private address; it exists only inside the namespace. */
const ADDRESS = "198.18.0.10";
const CIDR = "198.18.0.0/24";
/** The VMs' network MTU (Neutron on VXLAN). */
const MTU = 1450;
/** The last /24 of the pool the node plan below is given. */
const GATEWAY_BRIDGE_SUBNET = "172.23.255.0/24";
const scratch = mkdtempSync(join(tmpdir(), "berth-daemons-"));
const started: ChildProcess[] = [];

function run(argv: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), { input, encoding: "utf8", timeout: 30_000 });
  if (result.error) throw result.error;
  return { status: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
}

function runChecked(argv: string[], input?: string): string {
  const result = run(argv, input);
  if (result.status !== 0) throw new Error(`${argv.join(" ")} exited with ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** A command inside the namespace (nsenter, not `ip netns exec`, which remounts /sys). */
const inNamespace = (argv: string[]) => ["nsenter", `--net=/var/run/netns/${NETNS}`, ...argv];

/** Starts a daemon in the namespace, in its own process group so that it and its children stop together. */
function startDaemon(argv: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const out = openSync(log, "a");
  try {
    const child = spawn(argv[0]!, argv.slice(1), { env, detached: true, stdio: ["ignore", out, out] });
    started.push(child);
    return child;
  } finally {
    closeSync(out);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(-child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function until<T>(what: string, timeoutMs: number, attempt: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An HTTP GET from inside the namespace; undefined while nothing answers. */
function curl(url: string, socket?: string): string | undefined {
  const result = run(inNamespace(["curl", "--silent", "--fail", "--max-time", "2", ...(socket ? ["--unix-socket", socket] : []), url]));
  return result.status === 0 ? result.stdout : undefined;
}

function fileOf(plan: RolePlan, path: string): string {
  const file = plan.files.find((candidate) => candidate.path === path);
  if (!file) throw new Error(`${plan.role} has no ${path}`);
  return file.content;
}

const etcd = etcdPlan({ hostname: "berth-test-etcd", address: ADDRESS, clusterToken: "berth-test" });
const node = nodePlan({
  hostname: "docker-host-1",
  address: ADDRESS,
  overlays: { line: "20.10", etcdAddress: ADDRESS },
  nfsAddress: "198.18.0.12",
  clusterCidr: CIDR,
  dockerVersion: "20.10.*",
  containerAddressPool: "172.20.0.0/14",
  clusterId: "berth-test",
  osd: { enabled: false, image: "openstorage/osd" },
  mtu: MTU,
  sandbox: "none",
});
const dockerDir = join(scratch, "docker");
const socket = join(dockerDir, "docker.sock");
let dockerStartMs = 0;
let dockerd: ChildProcess | undefined;
/** The machine's own docker socket is never touched: a listener on it would get the test's socket. */
const throwawaySocket = (word: string) => (word === "unix:///var/run/docker.sock" || word === "unix:///run/docker.sock" ? `unix://${socket}` : word);

/** dockerd as docker.service and docker.socket start it; resolves once it answers. */
async function startDockerd(): Promise<ChildProcess> {
  const dockerOpts = parseEnvironmentFile(fileOf(node, PATHS.dockerDefaults)).DOCKER_OPTS;
  if (!dockerOpts) throw new Error("/etc/default/docker sets no DOCKER_OPTS");
  const child = startDaemon(
    inNamespace([
      "unshare",
      "--mount",
      "--propagation",
      "slave",
      "systemd-socket-activate",
      "--listen",
      socket,
      "/usr/sbin/dockerd",
      "-H",
      "fd://",
      ...execStartWords(dockerOpts).map(throwawaySocket),
      "--data-root",
      join(dockerDir, "data"),
      "--exec-root",
      join(dockerDir, "exec"),
      "--pidfile",
      join(dockerDir, "dockerd.pid"),
    ]),
    { PATH: process.env.PATH },
    join(scratch, "dockerd.log"),
  );
  // docker.socket starts dockerd on the first connection, as it does on the VM.
  await until("dockerd on the activated socket", 60_000, () => curl("http://docker/_ping", socket));
  return child;
}

beforeAll(async () => {
  runChecked(["ip", "netns", "add", NETNS]);
  // A veth pair with both ends inside: an interface to hold the address, and no way out.
  runChecked(
    ["ip", "-n", NETNS, "-batch", "-"],
    ["link set lo up", "link add eth0 type veth peer name eth0-peer", `addr add ${ADDRESS}/24 dev eth0`, "link set eth0 up", "link set eth0-peer up"].join(
      "\n",
    ),
  );

  const etcdEnv = parseEnvironmentFile(fileOf(etcd, PATHS.etcdDefaults));
  startDaemon(inNamespace(["/usr/bin/etcd"]), { PATH: process.env.PATH, ...etcdEnv, ETCD_DATA_DIR: join(scratch, "etcd") }, join(scratch, "etcd.log"));
  await until("etcd", 30_000, () => curl(`http://${ADDRESS}:${ETCD_CLIENT_PORT}/health`));

  const started = Date.now();
  dockerd = await startDockerd();
  dockerStartMs = Date.now() - started;
}, 120_000);

afterAll(async () => {
  for (const child of started.reverse()) await stop(child);
  run(["ip", "netns", "delete", NETNS]);
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

describe("etcd with the rendered /etc/default/etcd", () => {
  it("serves the v2 API that docker's --cluster-store needs", () => {
    expect(curl(`http://${ADDRESS}:${ETCD_CLIENT_PORT}/v2/keys/`)).toContain('"action":"get"');
  });
  it("answers on the legacy client port the admin guide opens", () => {
    expect(curl(`http://${ADDRESS}:${ETCD_LEGACY_CLIENT_PORT}/health`)).toContain('"health":"true"');
  });
});

describe("dockerd 20.10 with the rendered DOCKER_OPTS", () => {
  it("starts without the 15 s plain-TCP delay (--tls=false is in effect)", () => {
    expect(dockerStartMs).toBeLessThan(10_000);
  });
  it("serves its API on the node's address, for the tenant proxy", () => {
    expect(curl(`http://${ADDRESS}:${ENGINE_PORT}/_ping`)).toBe("OK");
  });
  it("listens once on the unix socket: the one docker.socket hands over", () => {
    const log = readFileSync(join(scratch, "dockerd.log"), "utf8");
    expect(log.split("\n").filter((line) => line.includes(`API listen on ${socket}`))).toHaveLength(1);
  });
  it("uses etcd as its cluster store and advertises the node's address", () => {
    const info = JSON.parse(curl("http://docker/info", socket) ?? "{}");
    expect(info.ClusterStore).toBe(`etcd://${ADDRESS}:${ETCD_CLIENT_PORT}`);
    expect(info.ClusterAdvertise).toBe(`${ADDRESS}:${ENGINE_PORT}`);
  });
  it("registers itself in etcd, which is what makes overlay networks span the nodes", async () => {
    const key = await until("the node's key in etcd", 30_000, () =>
      curl(`http://${ADDRESS}:${ETCD_CLIENT_PORT}/v2/keys/docker/nodes/${ADDRESS}:${ENGINE_PORT}`),
    );
    expect(JSON.parse(key).node.value).toBe(`${ADDRESS}:${ENGINE_PORT}`);
  });
  it("gives bridge networks subnets of the rendered address pool (tenants' bridges, compose networks)", () => {
    const created = run(
      inNamespace([
        "curl",
        "--silent",
        "--fail",
        "--unix-socket",
        socket,
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"Name":"pool-check"}',
        "http://docker/networks/create",
      ]),
    );
    expect(created.status, created.stderr).toBe(0);
    const network = JSON.parse(curl("http://docker/networks/pool-check", socket) ?? "{}");
    expect(network.IPAM.Config[0].Subnet).toMatch(/^172\.(20|21|22|23)\.\d+\.0\/24$/);
  });
  // issue 10: without --mtu the default bridge's containers send 1500-byte packets into a 1450
  // (VXLAN) or 1442 (Geneve) Neutron network and large transfers hang. dockerd 20.10 applies --mtu
  // to the default bridge only; the tenant proxy sets the option on the networks it creates.
  it("gives containers on the default bridge the VMs' network MTU (--mtu)", async () => {
    runChecked(["docker", "-H", `unix://${socket}`, "load", "-i", await testImageTar()]);
    const mtu = runChecked(["docker", "-H", `unix://${socket}`, "run", "--rm", TEST_IMAGE, "cat", "/sys/class/net/eth0/mtu"]);
    expect(mtu.trim()).toBe(String(MTU));
  });
  it("refuses inter-container traffic on the default bridge (--icc=false)", () => {
    const rules = runChecked(inNamespace(["iptables", "-S", "FORWARD"]));
    expect(rules).toMatch(/-A FORWARD -i docker0 -o docker0 -j DROP/);
  });
  it("makes docker_gwbridge once, on the subnet the node firewall names (the docker.service drop-in)", () => {
    const post = /^ExecStartPost=-\/bin\/sh -c '(.*)'$/m.exec(fileOf(node, PATHS.dockerGatewayBridgeDropIn))?.[1];
    expect(post).toBeDefined();
    const start = inNamespace(["env", `DOCKER_HOST=unix://${socket}`, "sh", "-c", post!]);
    runChecked(start);
    runChecked(start); // the engine's next start finds it
    const network = JSON.parse(curl("http://docker/networks/docker_gwbridge", socket) ?? "{}");
    expect(network.IPAM.Config[0].Subnet).toBe(GATEWAY_BRIDGE_SUBNET);
    expect(network.Options).toMatchObject({ "com.docker.network.bridge.name": "docker_gwbridge", "com.docker.network.bridge.enable_icc": "false" });
  });
});

describe("the node firewall script", () => {
  const firewall = fileOf(node, PATHS.nodeFirewall);
  const { toNode, toCluster } = NODE_FIREWALL_CHAINS;
  const berthRules = (namespace = inNamespace) =>
    runChecked(namespace(["iptables", "-S"]))
      .split("\n")
      .filter((line) => line.includes("BERTH-"));

  it("sends what enters from any container bridge through berth's chains, and is idempotent", () => {
    runChecked(inNamespace(["sh", "-s"]), firewall);
    const first = berthRules();
    const cidr = CIDR.replaceAll(".", "\\.");
    expect(first).toEqual(
      expect.arrayContaining([
        ...["docker0", "br-+", "docker_gwbridge"].flatMap((bridge) => [`-A INPUT -i ${bridge} -j ${toNode}`, `-A DOCKER-USER -i ${bridge} -j ${toCluster}`]),
        `-A ${toNode} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
        expect.stringMatching(new RegExp(`^-A ${toNode} -m comment .*-j DROP$`)),
        `-A ${toCluster} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
        expect.stringMatching(new RegExp(`^-A ${toCluster} -d 198\\.18\\.0\\.10/32 .*etcd.*-j DROP$`)),
        expect.stringMatching(new RegExp(`^-A ${toCluster} -d 198\\.18\\.0\\.12/32 .*NFS.*-j DROP$`)),
        expect.stringMatching(new RegExp(`^-A ${toCluster} -d 169\\.254\\.169\\.254/32 .*-j DROP$`)),
        expect.stringMatching(new RegExp(`^-A ${toCluster} -d ${cidr} -p tcp -m tcp --dport 32768:61000 .*-j RETURN$`)),
        expect.stringMatching(new RegExp(`^-A ${toCluster} -d ${cidr} -p udp -m udp --dport 32768:61000 .*-j RETURN$`)),
        expect.stringMatching(new RegExp(`^-A ${toCluster} -d ${cidr} -m comment .*-j DROP$`)),
      ]),
    );
    // The chain's DROPs come after every exception, so the exceptions take effect.
    const toClusterRules = first.filter((line) => line.startsWith(`-A ${toCluster} `));
    expect(toClusterRules.at(-1)).toMatch(new RegExp(`-d ${cidr} .*-j DROP$`));
    runChecked(inNamespace(["sh", "-s"]), firewall);
    expect(berthRules()).toEqual(first);
  });

  it("drops ARP between docker_gwbridge's containers, by that subnet, and is idempotent", () => {
    const bridgeRules = () => runChecked(inNamespace(["ebtables", "-L"]));
    runChecked(inNamespace(["sh", "-s"]), firewall);
    const first = bridgeRules();
    expect(first).toContain(`-j ${NODE_FIREWALL_CHAINS.gatewayBridgeArp}`);
    expect(first).toContain(`-p ARP --arp-ip-src ${GATEWAY_BRIDGE_SUBNET} --arp-ip-dst ${GATEWAY_BRIDGE_SUBNET} -j DROP`);
    runChecked(inNamespace(["sh", "-s"]), firewall);
    expect(bridgeRules()).toEqual(first);
  });

  it("keeps its rules through a restart of dockerd, which rewrites its own chains", async () => {
    const before = berthRules();
    await stop(dockerd!);
    dockerd = await startDockerd();
    expect(berthRules().sort()).toEqual(before.sort());
    expect(runChecked(inNamespace(["iptables", "-S", "FORWARD"])).split("\n")[1]).toBe("-A FORWARD -j DOCKER-USER");
  }, 90_000);

  it("applies on a node where docker has not started yet, as at boot (the unit runs before docker.service)", () => {
    const fresh = `berthinfra-fw-${process.pid}`;
    runChecked(["ip", "netns", "add", fresh]);
    try {
      const inFresh = (argv: string[]) => ["nsenter", `--net=/var/run/netns/${fresh}`, ...argv];
      runChecked(inFresh(["sh", "-s"]), firewall);
      expect(berthRules(inFresh).sort()).toEqual(berthRules().sort());
    } finally {
      run(["ip", "netns", "delete", fresh]);
    }
  });
});
