/**
 * The node firewall, tried as an attacking tenant tries it, on a real local cluster (`up` in a
 * cluster of its own: folder, bridge, subnet and namespace names from this test run's number,
 * beside any developer's and the other cluster tests'). Tenant B (docker-user-2) has containers on
 * an overlay network on both nodes; tenant A (docker-user-1) has a container on docker0, one on its
 * own overlay network only (so on docker_gwbridge, the bridge every tenant's overlay containers go
 * out by) and one on that overlay network and a user bridge `br-*` made on the engine directly (the
 * shape of per-tenant bridges; the engine takes such a container off docker_gwbridge), all on
 * docker-host-1.
 *
 * A's packets are sent from inside A's containers' network namespaces (nsenter into the container's
 * namespace, a plain UDP socket of Node's): the busybox image has no UDP client, and any tenant
 * image with Python or Node has one. B's "receiver" is likewise a UDP socket in B's container's
 * namespace, so delivery is seen where B would see it.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand, runDocker, type CommandResult } from "../../scripts/harness/index.ts";
import { dockerMac, MEMBERLIST_ACK, memberlistPing, vxlanDatagram } from "../support/overlay-packets.ts";
import { testCluster } from "../support/local-cluster.ts";

const own = testCluster("nf");
const { env, layout } = own;
const NODE1 = { name: "docker-host-1", address: `${layout.subnetPrefix}.0.11` };
const NODE2 = { name: "docker-host-2", address: `${layout.subnetPrefix}.0.12` };
const ETCD = `${layout.subnetPrefix}.0.14`;
/** The root namespace: the operator, and the only "outside world" the local cluster has. */
const OUTSIDE = `${layout.subnetPrefix}.0.1`;
const TENANT_A = join(layout.tenantsDir, "docker-user-1");
const TENANT_B = join(layout.tenantsDir, "docker-user-2");
const USER_BRIDGE = "nf-user-bridge";
const VXLAN_PORT = 4789;
const WEB_PORT = 8080;

function cluster(command: "up" | "down"): Promise<CommandResult> {
  return own.run([command], 150_000);
}

function ok(result: CommandResult, what: string): string {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}: ${result.stderr}${result.stdout}`);
  return result.stdout.trim();
}

/** The docker CLI as a tenant, through the proxy (the config dir carries the proxy's context). */
async function asTenant(tenant: string, args: string[]): Promise<string> {
  return ok(await runDocker("docker28", ["--config", tenant, ...args], { timeoutMs: 60_000 }), `docker ${args.join(" ")}`);
}

/** The docker CLI straight at a node's engine, as the operator. */
async function onEngine(node: string, args: string[]): Promise<string> {
  return ok(
    await runDocker("docker28", ["-H", `unix://${join(layout.stateDir, "hosts", node, "docker.sock")}`, ...args]),
    `docker ${args.join(" ")} on ${node}`,
  );
}

/** Runs a command in a tenant's container through the proxy; true when it exits 0. */
async function succeedsInContainer(tenant: string, container: string, script: string): Promise<boolean> {
  return (await runDocker("docker28", ["--config", tenant, "exec", container, "sh", "-c", script], { timeoutMs: 30_000 })).code === 0;
}

interface Container {
  tenant: string;
  name: string;
  node: typeof NODE1;
  pid: number;
  /** Its address on each of its tenant's networks, by the name the tenant sees. */
  addresses: Record<string, string>;
}

async function inspectContainer(tenant: string, name: string, node: typeof NODE1): Promise<Container> {
  const id = await asTenant(tenant, ["inspect", "--format", "{{.Id}}", name]);
  const networks = JSON.parse(await asTenant(tenant, ["inspect", "--format", "{{json .NetworkSettings.Networks}}", name])) as Record<
    string,
    { IPAddress: string }
  >;
  const pid = Number(await onEngine(node.name, ["inspect", "--format", "{{.State.Pid}}", id]));
  return { tenant, name, node, pid, addresses: Object.fromEntries(Object.entries(networks).map(([network, settings]) => [network, settings.IPAddress])) };
}

/** An interface's IPv4 address in a node's namespace: the gateway of the bridge it is. */
async function interfaceAddress(node: typeof NODE1, name: string): Promise<string> {
  const shown = ok(
    await runCommand(["nsenter", `--net=/var/run/netns/${env.BERTH_CLUSTER_NETNS_PREFIX}${node.name}`, "ip", "-4", "-o", "addr", "show", "dev", name]),
    `ip addr of ${name}`,
  );
  return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(shown)?.[1] ?? "";
}

/** A container's address on docker_gwbridge, the engine's own network, which tenants do not see. */
async function gatewayBridgeAddress(container: Container): Promise<string> {
  const id = await asTenant(container.tenant, ["inspect", "--format", "{{.Id}}", container.name]);
  const attached = JSON.parse(await onEngine(container.node.name, ["network", "inspect", "--format", "{{json .Containers}}", "docker_gwbridge"])) as Record<
    string,
    { IPv4Address: string }
  >;
  const endpoint = attached[id];
  if (!endpoint) throw new Error(`${container.name} is not on docker_gwbridge`);
  return endpoint.IPv4Address.split("/")[0]!;
}

/** An HTTP GET with busybox nc (busybox-static's wget crashes here); succeeds when the page came back. */
const httpGet = (address: string, port: number) => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${address} ${port} | grep -q 'web on'`;

/** Node's JavaScript in a container's network namespace: what a tenant's own UDP client does. */
function inNetns(container: Container, script: string, args: string[], timeoutMs = 15_000): Promise<CommandResult> {
  return runCommand(["nsenter", "-t", String(container.pid), "-n", process.execPath, "-e", script, "--", ...args], { timeoutMs });
}

/** Binds `port`, says "ready", then waits up to 5 s for one UDP datagram and prints it. */
const RECEIVE = `const socket = require("dgram").createSocket("udp4");
socket.on("message", (message) => { process.stdout.write(message.toString()); process.exit(0); });
socket.bind(Number(process.argv[1]), () => { process.stdout.write("ready\\n"); setTimeout(() => process.exit(1), 5000); });`;

/**
 * A receiver in the container's namespace: `ready` once bound, `received` with what came ("" if
 * nothing did). One that never got ready fails the test rather than pass as "nothing delivered".
 */
function receiver(container: Container, port: number): { ready: Promise<void>; received: Promise<string> } {
  const child = spawn("nsenter", ["-t", String(container.pid), "-n", process.execPath, "-e", RECEIVE, "--", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let errors = "";
  let bound = false;
  let signal: { resolve: () => void; reject: (error: Error) => void } = { resolve: () => {}, reject: () => {} };
  const ready = new Promise<void>((resolve, reject) => (signal = { resolve, reject }));
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (!bound && output.startsWith("ready\n")) {
      bound = true;
      signal.resolve();
    }
  });
  child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString()));
  const received = new Promise<string>((resolve, reject) =>
    child.on("close", (code) => {
      if (!bound) {
        const error = new Error(`the receiver in ${container.name} never bound port ${port}: ${errors}`);
        signal.reject(error);
        reject(error);
      } else resolve(code === 0 ? output.slice("ready\n".length) : "");
    }),
  );
  received.catch(() => {}); // reported through `ready` first
  return { ready, received };
}

/** Sends a (base64) datagram to host:port five times, half a second apart: UDP may lose one. */
const SEND = `const socket = require("dgram").createSocket("udp4");
const [bytes, host, port] = process.argv.slice(1);
let sent = 0;
const send = () => socket.send(Buffer.from(bytes, "base64"), Number(port), host, () => { if (++sent === 5) socket.close(); else setTimeout(send, 500); });
send();`;

/** Sends a datagram every half second and prints the first byte of any answer; exits 3 after 5 s of silence. */
const ASK = `const socket = require("dgram").createSocket("udp4");
const [bytes, host, port] = process.argv.slice(1);
socket.on("message", (message) => { process.stdout.write(String(message[0])); process.exit(0); });
const ask = () => socket.send(Buffer.from(bytes, "base64"), Number(port), host);
ask();
setInterval(ask, 500);
setTimeout(() => process.exit(3), 5000);`;
const SILENCE = 3;

let bnetVni = 0;
let victims: { onNode1: Container; onNode2: Container };
let attackers: { onDocker0: Container; onOverlay: Container; onGatewayBridge: Container };
const gateways = { docker0: "", dockerGwbridge: "", userBridge: "" };
let publishedPort = 0;
let outside: Server | undefined;
const outsideHeard: string[] = [];

beforeAll(async () => {
  const up = await cluster("up");
  expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);

  await asTenant(TENANT_B, ["network", "create", "bnet"]);
  const web = `mkdir -p /www && echo "web on $(hostname)" > /www/index.html && exec httpd -f -p ${WEB_PORT} -h /www`;
  await asTenant(TENANT_B, [
    "run",
    "-d",
    "--name",
    "b1",
    "--net",
    "bnet",
    "-p",
    String(WEB_PORT),
    "-e",
    `constraint:node==${NODE1.name}`,
    "busybox",
    "sh",
    "-c",
    web,
  ]);
  await asTenant(TENANT_B, ["run", "-d", "--name", "b2", "--net", "bnet", "-e", `constraint:node==${NODE2.name}`, "busybox", "sh", "-c", web]);
  await asTenant(TENANT_A, ["network", "create", "anet"]);
  await asTenant(TENANT_A, ["run", "-d", "--name", "a0", "-e", `constraint:node==${NODE1.name}`, "busybox", "sleep", "600"]);
  await asTenant(TENANT_A, ["run", "-d", "--name", "a1", "--net", "anet", "-e", `constraint:node==${NODE1.name}`, "busybox", "sleep", "600"]);
  await asTenant(TENANT_A, ["run", "-d", "--name", "a2", "--net", "anet", "-e", `constraint:node==${NODE1.name}`, "busybox", "sleep", "600"]);
  await onEngine(NODE1.name, ["network", "create", "--driver", "bridge", USER_BRIDGE]);
  await onEngine(NODE1.name, ["network", "connect", USER_BRIDGE, await asTenant(TENANT_A, ["inspect", "--format", "{{.Id}}", "a1"])]);

  victims = { onNode1: await inspectContainer(TENANT_B, "b1", NODE1), onNode2: await inspectContainer(TENANT_B, "b2", NODE2) };
  attackers = {
    onDocker0: await inspectContainer(TENANT_A, "a0", NODE1),
    onOverlay: await inspectContainer(TENANT_A, "a1", NODE1),
    onGatewayBridge: await inspectContainer(TENANT_A, "a2", NODE1),
  };
  gateways.docker0 = await interfaceAddress(NODE1, "docker0");
  gateways.dockerGwbridge = await interfaceAddress(NODE1, "docker_gwbridge");
  gateways.userBridge = await onEngine(NODE1.name, ["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", USER_BRIDGE]);
  publishedPort = Number((await asTenant(TENANT_B, ["port", "b1", String(WEB_PORT)])).split(":").pop());

  // The overlay's VNI, as the engines keep it in etcd (docker hands them out in sequence from 256).
  const networkId = await asTenant(TENANT_B, ["network", "inspect", "--format", "{{.Id}}", "bnet"]);
  const etcdKey = `http://${ETCD}:2379/v2/keys/docker/network/v1.0/overlay/network/${networkId}`;
  const stored = ok(
    await runCommand(["nsenter", `--net=/var/run/netns/${env.BERTH_CLUSTER_NETNS_PREFIX}${NODE1.name}`, "curl", "--silent", "--fail", etcdKey]),
    "the overlay's etcd key",
  );
  bnetVni = (JSON.parse(JSON.parse(stored).node.value) as { subnets: Array<{ Vni: number }> }).subnets[0]!.Vni;

  outside = createServer((socket) => socket.on("data", (data) => outsideHeard.push(data.toString().trim())));
  await new Promise<void>((resolve) => outside!.listen(0, OUTSIDE, resolve));
}, 300_000);

afterAll(async () => {
  outside?.close();
  await cluster("down"); // after a failure too; removes every container, network and rule with the namespaces
}, 120_000);

/** A's container sends a VXLAN datagram to `target` carrying a frame for `victim`; what the victim received, if anything. */
async function inject(attacker: Container, target: string, victim: Container, port: number): Promise<string> {
  const victimAddress = victim.addresses.bnet!;
  const forged = `${victimAddress.split(".").slice(0, 3).join(".")}.200`;
  const payload = `injected through ${target}`;
  const datagram = vxlanDatagram({
    vni: bnetVni,
    from: { address: forged, mac: dockerMac(forged), port: 40000 },
    to: { address: victimAddress, mac: dockerMac(victimAddress), port },
    payload,
  });
  const { ready, received } = receiver(victim, port);
  await ready;
  await inNetns(attacker, SEND, [datagram.toString("base64"), target, String(VXLAN_PORT)]);
  return received;
}

/** Whether a TCP connection from the container to address:port is accepted (busybox nc). */
function tcpAnswers(attacker: Container, address: string, port: number): Promise<boolean> {
  return succeedsInContainer(attacker.tenant, attacker.name, `nc -w 3 ${address} ${port} </dev/null >/dev/null`);
}

/** Whether the memberlist agent on address:7946 acks a ping sent over UDP from the container. */
async function memberlistAnswers(attacker: Container, address: string): Promise<boolean> {
  const answer = await inNetns(attacker, ASK, [memberlistPing(1).toString("base64"), address, "7946"]);
  if (answer.code === SILENCE) return false;
  if (answer.code !== 0 || answer.stdout !== String(MEMBERLIST_ACK))
    throw new Error(`asking ${address}:7946 went wrong (${answer.code}): ${answer.stdout} ${answer.stderr}`);
  return true;
}

describe("the node firewall on the local cluster", () => {
  it("sets the scene: B's overlay has a VNI, every gateway and the published port are known", () => {
    expect(bnetVni).toBeGreaterThanOrEqual(256);
    expect(Object.values(gateways).every((address) => /^\d+\.\d+\.\d+\.\d+$/.test(address))).toBe(true);
    expect(publishedPort).toBeGreaterThanOrEqual(32768);
  });

  it("sets the scene: a2 and B's containers go out by docker_gwbridge, a1 by the user bridge", async () => {
    expect(await gatewayBridgeAddress(attackers.onGatewayBridge)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await gatewayBridgeAddress(victims.onNode1)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await expect(gatewayBridgeAddress(attackers.onOverlay)).rejects.toThrow("not on docker_gwbridge");
  });

  it("keeps the overlay control plane (7946 tcp and udp) and SSH of every node away from containers", async () => {
    const { onDocker0, onOverlay, onGatewayBridge } = attackers;
    const checks = {
      "own node 7946/tcp": () => tcpAnswers(onDocker0, NODE1.address, 7946),
      "own node 7946/udp": () => memberlistAnswers(onDocker0, NODE1.address),
      "own node ssh": () => tcpAnswers(onDocker0, NODE1.address, 22),
      "docker0 gateway ssh": () => tcpAnswers(onDocker0, gateways.docker0, 22),
      "docker_gwbridge gateway ssh": () => tcpAnswers(onGatewayBridge, gateways.dockerGwbridge, 22),
      "own node ssh from docker_gwbridge": () => tcpAnswers(onGatewayBridge, NODE1.address, 22),
      "other node 7946/udp from docker_gwbridge": () => memberlistAnswers(onGatewayBridge, NODE2.address),
      "user bridge gateway ssh": () => tcpAnswers(onOverlay, gateways.userBridge, 22),
      "other node 7946/tcp": () => tcpAnswers(onDocker0, NODE2.address, 7946),
      "other node 7946/udp": () => memberlistAnswers(onDocker0, NODE2.address),
      "other node ssh": () => tcpAnswers(onDocker0, NODE2.address, 22),
    };
    const answered = await Promise.all(Object.values(checks).map((check) => check()));
    expect(Object.fromEntries(Object.keys(checks).map((name, index) => [name, answered[index]]))).toEqual(
      Object.fromEntries(Object.keys(checks).map((name) => [name, false])),
    );
  }, 60_000);

  it("delivers no raw VXLAN frame from a container into another tenant's overlay, through any node address", async () => {
    const { onDocker0, onOverlay, onGatewayBridge } = attackers;
    const { onNode1, onNode2 } = victims;
    const attempts = [
      { via: "its own node's address", attacker: onDocker0, target: NODE1.address, victim: onNode1 },
      { via: "the docker0 gateway", attacker: onDocker0, target: gateways.docker0, victim: onNode1 },
      { via: "the other node's address", attacker: onDocker0, target: NODE2.address, victim: onNode2 },
      { via: "the docker_gwbridge gateway", attacker: onGatewayBridge, target: gateways.dockerGwbridge, victim: onNode1 },
      { via: "the other node's address, from docker_gwbridge", attacker: onGatewayBridge, target: NODE2.address, victim: onNode2 },
      { via: "a user bridge's gateway", attacker: onOverlay, target: gateways.userBridge, victim: onNode1 },
    ];
    const delivered = await Promise.all(attempts.map((attempt, index) => inject(attempt.attacker, attempt.target, attempt.victim, 5001 + index)));
    expect(Object.fromEntries(attempts.map((attempt, index) => [attempt.via, delivered[index]]))).toEqual(
      Object.fromEntries(attempts.map((attempt) => [attempt.via, ""])),
    );
  }, 60_000);

  it("keeps ARP between the containers on docker_gwbridge, which every tenant's overlay containers share", async () => {
    const victim = await gatewayBridgeAddress(victims.onNode1);
    // Any packet to the address makes A's kernel ask for it by ARP; icc=false drops the packet itself.
    expect(await succeedsInContainer(TENANT_A, "a2", `nc -w 2 ${victim} ${WEB_PORT} </dev/null`)).toBe(false);
    const neighbour = await asTenant(TENANT_A, ["exec", "a2", "ip", "neigh", "show", victim]);
    expect(neighbour, `A's container learnt B's MAC on docker_gwbridge: ${neighbour}`).not.toMatch(/lladdr/);
    // The node itself still reaches its containers there: B's published port answers from outside.
    expect(await succeedsInContainer(TENANT_B, "b2", httpGet(NODE1.address, publishedPort))).toBe(true);
  });

  it("keeps a container off its own node's published ports, which are for clients outside the node", async () => {
    expect(await succeedsInContainer(TENANT_A, "a0", httpGet(NODE1.address, publishedPort))).toBe(false);
    expect(await succeedsInContainer(TENANT_A, "a0", httpGet(gateways.docker0, publishedPort))).toBe(false);
    expect(await succeedsInContainer(TENANT_A, "a2", httpGet(gateways.dockerGwbridge, publishedPort))).toBe(false);
    expect(await succeedsInContainer(TENANT_A, "a2", httpGet(NODE1.address, publishedPort))).toBe(false);
  });

  it("still lets containers reach another node's published ports, as any client the security group admits", async () => {
    expect(await succeedsInContainer(TENANT_B, "b2", httpGet(NODE1.address, publishedPort))).toBe(true);
  });

  it("still carries overlay traffic between containers on different nodes, both ways", async () => {
    expect(await succeedsInContainer(TENANT_B, "b1", httpGet(victims.onNode2.addresses.bnet!, WEB_PORT))).toBe(true);
    expect(await succeedsInContainer(TENANT_B, "b2", httpGet(victims.onNode1.addresses.bnet!, WEB_PORT))).toBe(true);
  });

  it("still lets containers reach the world outside the cluster (here: the operator's address)", async () => {
    expect(await succeedsInContainer(TENANT_A, "a0", `echo from-docker0 | nc -w 3 ${OUTSIDE} ${(outside!.address() as { port: number }).port}`)).toBe(true);
    expect(await succeedsInContainer(TENANT_A, "a1", `echo from-overlay | nc -w 3 ${OUTSIDE} ${(outside!.address() as { port: number }).port}`)).toBe(true);
    expect(await succeedsInContainer(TENANT_A, "a2", `echo from-gwbridge | nc -w 3 ${OUTSIDE} ${(outside!.address() as { port: number }).port}`)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(outsideHeard.sort()).toEqual(["from-docker0", "from-gwbridge", "from-overlay"]);
  });
});
