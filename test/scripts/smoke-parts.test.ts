/**
 * The pure parts of the smoke scripts: their command lines and defaults, the inventory (from a file
 * or from `pulumi stack output --json`) and its errors, the results table and summary, the per-check
 * timeout, the probes' shell commands and judges, and the transcript's readings of docker output.
 * The two probes that run from the operator's machine (a TCP connect that must fail, a `_ping` over
 * TLS that must verify) are tried on loopback against servers started here.
 */
import { once } from "node:events";
import https from "node:https";
import net from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { buildInventory, type Inventory } from "../../infra/inventory.ts";
import { makeTls } from "../../scripts/local-cluster/secrets.ts";
import { parseConnectivityArgs, parseEnvFile, parseTenantArgs, UsageError } from "../../scripts/smoke/args.ts";
import { inventoryFromStackOutputs, inventoryHosts, parseInventory } from "../../scripts/smoke/inventory.ts";
import { pinnedHostKey } from "../../scripts/smoke/ssh.ts";
import { curlCommand, judgeEnginePing, judgeEtcd, judgeSwarmMember, pingCommand, tcpConnect, tcpProbeCommand, tlsPing } from "../../scripts/smoke/probes.ts";
import { type CheckRow, renderTable, runCheck, summaryLine, withTimeout } from "../../scripts/smoke/results.ts";
import { shellQuote } from "../../scripts/smoke/ssh.ts";
import { HOST_ESCAPES, composeFile, isProxyRefusal, nodesFromSystemStatus, runNames, runObjects, runPrefix } from "../../scripts/smoke/transcript.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("smoke-parts");
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

function inventory(): Inventory {
  return buildInventory({
    cluster: "berth-dev",
    engineLine: "20.10",
    sshUser: "debian",
    manager: { name: "manager", privateAddress: "10.0.0.10", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", publicAddress: "203.0.113.10" },
    nodes: [
      { name: "docker-host-2", privateAddress: "10.0.0.12", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", enginePort: 2375 },
      { name: "docker-host-1", privateAddress: "10.0.0.11", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", enginePort: 2375 },
    ],
    nfs: { name: "nfs", privateAddress: "10.0.0.20", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", shares: ["/exports/volumes"] },
    etcd: { name: "etcd", privateAddress: "10.0.0.30", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", clientPort: 2379 },
    proxy: { port: 2376, authBackend: "keystone", keystoneUrl: "https://keystone.example:5000/v3" },
    ca: { pem: PEM, managerPath: "/etc/berth/tls/ca.pem", hint: "pulumi stack output caPem > ca.pem" },
  });
}

const local = (existing: string[] = []) => ({ localDir: "/repo/.local", home: "/home/op", exists: (path: string) => existing.includes(path) });

describe("smoke:connectivity arguments", () => {
  it("defaults to the local cluster's inventory and key, else ~/.ssh/id_ed25519", () => {
    expect(parseConnectivityArgs([], local(["/repo/.local/ssh/id_ed25519"]))).toEqual({
      inventory: { kind: "file", path: "/repo/.local/inventory.json" },
      sshKey: "/repo/.local/ssh/id_ed25519",
      timeoutMs: 15_000,
    });
    expect(parseConnectivityArgs([], local())).toMatchObject({ sshKey: "/home/op/.ssh/id_ed25519" });
  });

  it("takes --stack, --ssh-key and --timeout, and refuses --inventory with --stack or a bad timeout", () => {
    expect(parseConnectivityArgs(["--stack", "dev", "--ssh-key", "/k", "--timeout", "3"], local())).toEqual({
      inventory: { kind: "stack", stack: "dev" },
      sshKey: "/k",
      timeoutMs: 3000,
    });
    expect(() => parseConnectivityArgs(["--stack", "dev", "--inventory", "x.json"], local())).toThrow(UsageError);
    expect(() => parseConnectivityArgs(["--timeout", "soon"], local())).toThrow("--timeout takes a number of seconds");
    expect(() => parseConnectivityArgs(["--bogus"], local())).toThrow(UsageError);
    expect(parseConnectivityArgs(["--help"], local())).toBe("help");
  });
});

describe("smoke:tenants arguments", () => {
  it("defaults to the local cluster's users and takes DOCKER_HOST with TLS and DOCKER_CERT_PATH from the environment", () => {
    const options = parseTenantArgs([], { DOCKER_HOST: "tcp://203.0.113.10:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs" }, local());
    expect(options).toEqual({
      tenant1: "/repo/.local/tenants/docker-user-1",
      tenant2: "/repo/.local/tenants/docker-user-2",
      tenant2Member: "/repo/.local/tenants/docker-user-3",
      endpoint: { host: "tcp://203.0.113.10:2376", ca: "/certs/ca.pem" },
      image: "busybox:latest",
      nodes: undefined,
      timeoutMs: 60_000,
    });
  });

  it("uses flags before the environment, the first tenant's ca.pem with TLS and no cert path, plain TCP without TLS", () => {
    const env = { DOCKER_HOST: "tcp://env:2376", DOCKER_TLS_VERIFY: "1" };
    const flags = parseTenantArgs(["--host", "tcp://flag:2376", "--ca", "/my/ca.pem", "--tenant1", "/u1", "--image", "img", "--nodes", "a, b"], env, local());
    expect(flags).toMatchObject({ tenant1: "/u1", endpoint: { host: "tcp://flag:2376", ca: "/my/ca.pem" }, image: "img", nodes: ["a", "b"] });
    expect(parseTenantArgs(["--tenant1", "/u1"], env, local())).toMatchObject({ endpoint: { host: "tcp://env:2376", ca: "/u1/ca.pem" } });
    expect(parseTenantArgs([], { DOCKER_HOST: "tcp://127.0.0.1:1234", DOCKER_TLS_VERIFY: "" }, local())).toMatchObject({
      endpoint: { host: "tcp://127.0.0.1:1234" },
    });
  });

  it("falls back to .local/env, and says what to do when there is no endpoint at all", () => {
    const envFile = parseEnvFile("# comment\nexport DOCKER_HOST=tcp://10.9.0.2:2376\nexport DOCKER_TLS_VERIFY=1\nDOCKER_CERT_PATH='/repo/.local/tls'\n");
    expect(envFile).toEqual({ DOCKER_HOST: "tcp://10.9.0.2:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/repo/.local/tls" });
    expect(parseTenantArgs([], {}, { ...local(), envFile })).toMatchObject({ endpoint: { host: "tcp://10.9.0.2:2376", ca: "/repo/.local/tls/ca.pem" } });
    expect(() => parseTenantArgs([], {}, local())).toThrow("no endpoint: give --host, set DOCKER_HOST");
    expect(() => parseTenantArgs(["--nodes", "a"], { DOCKER_HOST: "tcp://x:1" }, local())).toThrow("--nodes takes two different node names");
  });
});

describe("the inventory", () => {
  it("reads the shape infra/inventory.ts builds, and lists each host once with the manager first", () => {
    const parsed = parseInventory(JSON.parse(JSON.stringify(inventory())), "inventory.json");
    expect(parsed).toEqual(inventory());
    expect(inventoryHosts(parsed).map((h) => `${h.role}:${h.name}`)).toEqual([
      "manager:manager",
      "node:docker-host-1",
      "node:docker-host-2",
      "nfs:nfs",
      "etcd:etcd",
    ]);
    const shared = { ...parsed, etcd: { ...parsed.etcd!, privateAddress: parsed.nfs.privateAddress } };
    expect(inventoryHosts(shared).map((h) => h.name)).toEqual(["manager", "docker-host-1", "docker-host-2", "nfs"]);
  });

  it("names every wrong field", () => {
    const broken = { ...inventory(), version: 2, nodes: [], ca: { ...inventory().ca, pem: "nope" } } as unknown;
    expect(() => parseInventory(broken, "x.json")).toThrow(
      /x\.json is not a berth inventory: version: .*; nodes: the inventory lists no docker nodes; ca\.pem: is not a PEM certificate/,
    );
  });

  it("is taken from pulumi stack output --json, as an object or a JSON string", () => {
    const outputs = { managerAddress: "203.0.113.10", inventory: inventory() };
    expect(inventoryFromStackOutputs(JSON.stringify(outputs), "dev")).toEqual(inventory());
    expect(inventoryFromStackOutputs(JSON.stringify({ inventory: JSON.stringify(inventory()) }), "dev")).toEqual(inventory());
  });

  it("says what is wrong with the stack's outputs", () => {
    expect(() => inventoryFromStackOutputs("error: no stack", "dev")).toThrow("the outputs of stack dev is not JSON");
    expect(() => inventoryFromStackOutputs(JSON.stringify({ endpoint: "x" }), "dev")).toThrow('have no "inventory" (outputs: endpoint)');
    expect(() => inventoryFromStackOutputs(JSON.stringify({ inventory: "[secret]" }), "dev")).toThrow("--show-secrets");
    expect(() => inventoryFromStackOutputs("[]", "dev")).toThrow("are not a JSON object");
  });
});

describe("the results", () => {
  const rows: CheckRow[] = [
    { check: "ssh", host: "manager", ok: true, detail: "root@10.9.0.2: manager" },
    { check: "engine port closed from here", host: "docker-host-1", ok: false, detail: `10.9.0.3:2375 accepted a connection ${"x".repeat(200)}` },
  ];

  it("renders aligned columns, FAIL rows, details cut to a readable width, red only when asked", () => {
    const table = renderTable(rows);
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^CHECK\s+HOST\s+RESULT\s+DETAIL$/);
    expect(lines[1]).toMatch(/^ssh\s+manager\s+ok\s+root@10\.9\.0\.2: manager$/);
    expect(lines[2]).toMatch(/^engine port closed from here  docker-host-1  FAIL\s+10\.9\.0\.3:2375 accepted/);
    expect(lines[2]!.endsWith("…")).toBe(true);
    const resultColumn = lines[0]!.indexOf("RESULT");
    expect([lines[1]!.indexOf("ok"), lines[2]!.indexOf("FAIL")]).toEqual([resultColumn, resultColumn]);
    expect(table).not.toContain("\u001b[");
    expect(renderTable(rows, true)).toContain("\u001b[31mFAIL");
  });

  it("sums up: all passed, which checks failed, or nothing ran", () => {
    expect(summaryLine([rows[0]!])).toBe("1 checks, all passed");
    expect(summaryLine(rows)).toBe("2 checks, 1 failed: engine port closed from here");
    expect(summaryLine([])).toBe("no checks ran: FAILED");
  });

  it("turns a check that hangs into a failed row, and a thrown error into its detail", async () => {
    await expect(withTimeout(new Promise(() => {}), 50, "ping")).rejects.toThrow("ping timed out after 0.05 s");
    const hung = await runCheck("ssh", "docker-host-1", 50, () => new Promise(() => {}));
    expect(hung).toEqual({ check: "ssh", host: "docker-host-1", ok: false, detail: "the check timed out after 0.05 s" });
    const failed = await runCheck("ping", "nfs", 1000, async () => {
      throw new Error("exit 1:\n 100% packet loss");
    });
    expect(failed).toMatchObject({ ok: false, detail: "exit 1: 100% packet loss" });
  });
});

describe("the connectivity probes", () => {
  it("build shell commands with every value quoted", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(pingCommand("10.0.0.11", 2)).toBe(
      "if command -v ping >/dev/null 2>&1; then ping -c 1 -W 2 '10.0.0.11'; else busybox ping -c 1 -W 2 '10.0.0.11'; fi",
    );
    expect(curlCommand("http://10.0.0.11:2375/_ping", 5)).toBe("curl -fsS -m 5 'http://10.0.0.11:2375/_ping'");
    expect(tcpProbeCommand("10.0.0.20", 2049, 5)).toBe("timeout 5 bash -c 'exec 3<>/dev/tcp/10.0.0.20/2049'");
  });

  it("judge an engine's place in the current line's swarm from its /info", () => {
    const info = (swarm: Record<string, unknown>) => JSON.stringify({ Swarm: swarm });
    const worker = { LocalNodeState: "active", ControlAvailable: false, NodeID: "w1", RemoteManagers: [{ NodeID: "m1", Addr: "10.0.0.11:2377" }] };
    expect(judgeSwarmMember(info({ LocalNodeState: "active", ControlAvailable: true, NodeID: "m1" }), { manager: true })).toBe("manager, node m1");
    expect(judgeSwarmMember(info(worker), { manager: false, managerAddress: "10.0.0.11" })).toBe("worker of 10.0.0.11:2377");
    expect(() => judgeSwarmMember(info({ LocalNodeState: "inactive" }), { manager: true })).toThrow("not in a swarm (its state: inactive)");
    expect(() => judgeSwarmMember(info(worker), { manager: true })).toThrow("in a swarm it does not manage");
    expect(() => judgeSwarmMember(info({ ...worker, ControlAvailable: true }), { manager: false, managerAddress: "10.0.0.11" })).toThrow(
      "a manager: only the first node manages the swarm",
    );
    // 10.0.0.1 is a prefix of 10.0.0.11's text: the port's colon keeps them apart.
    expect(() => judgeSwarmMember(info(worker), { manager: false, managerAddress: "10.0.0.1" })).toThrow(
      "in a swarm managed by 10.0.0.11:2377, not by 10.0.0.1",
    );
    expect(() => judgeSwarmMember("<html>", { manager: true })).toThrow('/info answered "<html>", not JSON');
  });

  it("judge an engine's _ping and etcd's /health or /version", () => {
    expect(judgeEnginePing("OK")).toBe("OK");
    expect(() => judgeEnginePing("<html>")).toThrow('_ping answered "<html>", not OK');
    expect(judgeEtcd("/health", '{"health":"true","reason":""}')).toBe("health: true");
    expect(() => judgeEtcd("/health", '{"health":"false"}')).toThrow('/health answered {"health":"false"}');
    expect(judgeEtcd("/version", '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}')).toBe("etcd 3.4.23");
    expect(() => judgeEtcd("/version", "404 page not found")).toThrow("not JSON");
  });

  it("tell an open port from a closed one on loopback", async () => {
    const server = net.createServer((socket) => socket.end());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as net.AddressInfo;
    try {
      expect(await tcpConnect("127.0.0.1", port, 2000)).toEqual({ open: true });
    } finally {
      server.close();
    }
    await once(server, "close");
    expect(await tcpConnect("127.0.0.1", port, 2000)).toEqual({ open: false, why: "ECONNREFUSED" });
  });

  it("ping the proxy over TLS verified with the given CA only", async () => {
    const tls = await makeTls(join(dir.path, "tls"), "127.0.0.1");
    const other = await makeTls(join(dir.path, "other"), "127.0.0.1");
    const server = https.createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (req, res) => {
      res.writeHead(req.url === "/_ping" ? 200 : 404).end(req.url === "/_ping" ? "OK" : "page not found");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      expect(await tlsPing(url, readFileSync(tls.caFile, "utf8"), 5000)).toBe("OK");
      await expect(tlsPing(url, readFileSync(other.caFile, "utf8"), 5000)).rejects.toThrow(/certificate/);
    } finally {
      server.close();
    }
  });
});

describe("the transcript's readings", () => {
  it("makes unique run prefixes that are also compose project names", () => {
    const [a, b] = [runPrefix(), runPrefix()];
    expect(a).toMatch(/^smoke[0-9a-f]{6}$/);
    expect(a).not.toBe(b);
    expect(Object.values(runNames(a)).every((name) => name.startsWith(a))).toBe(true);
  });

  it("reads this run's containers from a listing with or without node prefixes", () => {
    const listing = "docker-host-2/smoke1a2b3c-t2-loop1\nsmoke1a2b3c-same-name-loop\ndocker-host-1/someone-else\n\n";
    expect(runObjects(listing, "smoke1a2b3c")).toEqual(["smoke1a2b3c-same-name-loop", "smoke1a2b3c-t2-loop1"]);
  });

  it("reads the nodes from classic Swarm's SystemStatus, and nothing from an engine without one", () => {
    const status = [
      ["Strategy", "spread"],
      ["Nodes", "2"],
      [" docker-host-1", "10.9.0.3:2375"],
      ["  └ Status", "Healthy"],
      ["  └ Containers", "3"],
      [" docker-host-2", "10.9.0.4:2375"],
      ["  └ Status", "Healthy"],
    ];
    expect(nodesFromSystemStatus(JSON.stringify(status))).toEqual(["docker-host-1", "docker-host-2"]);
    expect(nodesFromSystemStatus("null")).toEqual([]);
    expect(nodesFromSystemStatus("<no value>")).toEqual([]);
  });

  it("writes a compose v2 file with two services on an overlay network and a named volume", () => {
    const file = parseYaml(composeFile("busybox:latest")) as {
      version: string;
      networks: object;
      volumes: object;
      services: Record<string, { image: string; networks: string[] }>;
    };
    expect(file.version).toBe("2");
    expect(file.networks).toEqual({ front: { driver: "overlay" } });
    expect(Object.keys(file.volumes)).toEqual(["data"]);
    expect(Object.keys(file.services)).toEqual(["db", "web"]);
    expect(Object.values(file.services).map((s) => [s.image, s.networks])).toEqual([
      ["busybox:latest", ["front"]],
      ["busybox:latest", ["front"]],
    ]);
  });

  it("knows each host escape by the field the proxy's refusal names", () => {
    expect(HOST_ESCAPES.map((e) => e.flags.join(" "))).toEqual([
      "--privileged",
      "-v /:/host",
      "--net host",
      "--pid host",
      "--cap-add SYS_ADMIN",
      "--device /dev/sda",
    ]);
    expect(isProxyRefusal("Error response from daemon: HostConfig.Privileged: privileged containers are not allowed", "HostConfig.Privileged")).toBe(true);
    expect(isProxyRefusal("Error response from daemon: pull access denied for busybox", "HostConfig.Privileged")).toBe(false);
  });
});

// issue 10: the smoke scripts checked no host key either; they pin the inventory's, as `pulumi up` does.
describe("SSH host keys", () => {
  const blob = Buffer.from("the pinned key's wire form");
  it("offers only the pinned key's algorithm and accepts exactly its key", () => {
    const options = pinnedHostKey(`ssh-ed25519 ${blob.toString("base64")} root@vm`);
    expect(options.algorithms.serverHostKey).toEqual(["ssh-ed25519"]);
    expect(options.hostVerifier(blob)).toBe(true);
    expect(options.hostVerifier(Buffer.from("an impostor's key"))).toBe(false);
  });
  it("an inventory without a host's key is refused", () => {
    const value = JSON.parse(JSON.stringify(inventory())) as { nodes: Array<Record<string, unknown>> };
    delete value.nodes[0]!.sshHostKey;
    expect(() => parseInventory(value, "test")).toThrow(/nodes\.0\.sshHostKey/);
  });
});
