/**
 * Layer 2 between tenants on one engine (issue 9, "Shared layer 2"). Two tenants' containers that
 * name no network must not share a bridge: on docker0 a tenant's container answers the other's ARP,
 * can be impersonated by choosing its MAC address, and can be sniffed with NET_RAW. Each tenant
 * gets its own bridge network (`bridge` to the tenant), MAC addresses are the engine's to choose,
 * and NET_RAW is dropped while ping keeps working. The engine runs with `--icc=false`, as the
 * nodes do, which stops traffic between containers at layer 3 but not ARP.
 *
 * What an attacker with NET_RAW would see from inside tenant alpha's container is probed by a
 * helper container started straight on the engine (not through the proxy) in that container's
 * network namespace, since alpha's own containers no longer have NET_RAW. Pings use PING_IMAGE
 * (busybox's ping needs a raw socket).
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, PING_IMAGE, TEST_IMAGE, importPingImage, runCommand, startEngine } from "../../scripts/harness/index.ts";
import { type TestProxy, asUser, startTestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("layer2");
const alpha = tenantUser("alpha", "alpha", "token-alpha-1");
const beta = tenantUser("beta", "beta", "token-beta-1");
const gamma = tenantUser("gamma", "gamma", "token-gamma-1");
const delta = tenantUser("delta", "delta", "token-delta-1");
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file(
    "tokens.json",
    [alpha, beta, gamma, delta].map((u) => ({ token: u.token, user: u.name, tenant: u.tenant })),
  ),
};
const CAP_NET_RAW = 13n;

let engine: Engine;
let proxy: TestProxy;
let asAlpha: ReturnType<typeof asUser>;
let asBeta: ReturnType<typeof asUser>;

const ok = (result: { code: number; stdout: string; stderr: string }): string => {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
};

/** Straight to the engine: a container's id, address and networks, as the engine has them. */
async function engineView(tenantUserName: string, name: string): Promise<{ id: string; ip: string; networks: string[] }> {
  const inspected = await engine.api("GET", `/containers/${tenantUserName}_${name}/json`);
  expect(inspected.status).toBe(200);
  const networks = inspected.body.NetworkSettings.Networks as Record<string, { IPAddress: string; NetworkID: string }>;
  return { id: inspected.body.Id, ip: Object.values(networks)[0]!.IPAddress, networks: Object.values(networks).map((n) => n.NetworkID) };
}

/** The bridge a container's host-side veth is attached to, read in the node's network namespace. */
async function bridgeOf(containerId: string): Promise<string> {
  const peer = (await engine.docker(["exec", containerId, "cat", "/sys/class/net/eth0/iflink"])).stdout.trim();
  const links = await runCommand(["ip", "-n", engine.netns, "-o", "link", "show"]);
  const line = links.stdout.split("\n").find((l) => l.startsWith(`${peer}:`));
  const master = line && /\smaster (\S+)/.exec(line)?.[1];
  expect(master, `veth ${peer} of ${containerId} in ${links.stdout}`).toBeDefined();
  return master!;
}

/** `arping` from inside a container's network namespace with NET_RAW: exit 0 when the address answered ARP. */
async function arpAnswers(fromContainerId: string, ip: string): Promise<boolean> {
  const probe = await engine.docker([
    "run",
    "--rm",
    "--network",
    `container:${fromContainerId}`,
    "--cap-add",
    "NET_RAW",
    TEST_IMAGE,
    "arping",
    "-c",
    "2",
    "-w",
    "3",
    "-I",
    "eth0",
    ip,
  ]);
  return probe.code === 0;
}

async function api(user: typeof alpha, method: string, path: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${proxy.port}/v1.41${path}`, {
    method,
    headers: { "x-auth-token": user.token, "x-auth-tenantid": user.tenant, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

beforeAll(async () => {
  // --debug logs each API call the engine answers, which the bridge's lookups are counted by.
  engine = await startEngine({ extraArgs: ["--icc=false", "--debug"] });
  await importPingImage(engine);
  proxy = await startTestProxy(engine, env);
  asAlpha = asUser(proxy, alpha);
  asBeta = asUser(proxy, beta);
  ok(await asAlpha(["run", "-d", "--name", "a1", TEST_IMAGE, "sleep", "600"]));
  ok(await asAlpha(["run", "-d", "--name", "a2", TEST_IMAGE, "sleep", "600"]));
  ok(await asBeta(["run", "-d", "--name", "b1", TEST_IMAGE, "sleep", "600"]));
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

describe("containers that name no network", () => {
  it("sit on their tenant's own bridge, a different one for each tenant", async () => {
    const [a1, a2, b1] = await Promise.all([engineView("alpha", "a1"), engineView("alpha", "a2"), engineView("beta", "b1")]);
    const [bridgeA1, bridgeA2, bridgeB1] = await Promise.all([bridgeOf(a1.id), bridgeOf(a2.id), bridgeOf(b1.id)]);
    expect(bridgeA1).toBe(bridgeA2);
    expect(bridgeA1).not.toBe(bridgeB1);
    expect([bridgeA1, bridgeB1]).not.toContain("docker0");
    const network = await engine.api("GET", `/networks/${a1.networks[0]}`);
    expect(network.body).toMatchObject({ Name: "alpha_bridge", Driver: "bridge", Labels: { "berth.tenant": "alpha" } });
  });

  it("cannot be found by ARP from another tenant's container, while the tenant's own answer", async () => {
    const [a1, a2, b1] = await Promise.all([engineView("alpha", "a1"), engineView("alpha", "a2"), engineView("beta", "b1")]);
    expect(await arpAnswers(a1.id, a2.ip)).toBe(true);
    expect(await arpAnswers(a1.id, b1.ip)).toBe(false);
  });

  it("are on the network the tenant sees as `bridge`, with the names it gave them", async () => {
    const a1 = await engineView("alpha", "a1");
    expect(ok(await asAlpha(["network", "inspect", "-f", "{{.Id}} {{.Driver}}", "bridge"]))).toBe(`${a1.networks[0]} bridge`);
    expect(ok(await asAlpha(["network", "ls", "--format", "{{.Name}}"])).split("\n")).toEqual(["bridge", "none"]);
    expect(ok(await asAlpha(["inspect", "-f", "{{.HostConfig.NetworkMode}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", "a1"]))).toBe(
      "bridge bridge",
    );
    const members = ok(await asAlpha(["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "bridge"]));
    expect(members.split(" ").sort()).toEqual(["a1", "a2"]);
    ok(await asAlpha(["run", "--rm", PING_IMAGE, "ping", "-c", "1", "-W", "3", "a1"]));
  });
});

describe("MAC addresses", () => {
  it("are the engine's to choose: a create or a connect that sets one is refused", async () => {
    const b1 = await engine.api("GET", "/containers/beta_b1/json");
    const victimMac = b1.body.NetworkSettings.Networks[Object.keys(b1.body.NetworkSettings.Networks)[0]!].MacAddress as string;
    // docker 20.10 sends Config.MacAddress (docker 28 refuses --mac-address against API 1.41 itself).
    const cli = await asUser(proxy, alpha, "docker20")(["create", "--name", "spoof", "--mac-address", victimMac, TEST_IMAGE, "true"]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/MacAddress: .*MAC address/);
    const endpoint = await api(alpha, "POST", "/containers/create", {
      Image: TEST_IMAGE,
      NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: victimMac } } },
    });
    expect(endpoint.status, endpoint.text).toBe(403);
    expect(endpoint.text).toMatch(/NetworkingConfig\.EndpointsConfig\.bridge\.MacAddress/);
    ok(await asAlpha(["network", "create", "side"]));
    const connect = await api(alpha, "POST", "/networks/side/connect", { Container: "a1", EndpointConfig: { MacAddress: victimMac } });
    expect(connect.status, connect.text).toBe(403);
    expect(connect.text).toMatch(/EndpointConfig\.MacAddress/);
    const spoofs = await engine.api("GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: ["alpha_spoof"] }))}`);
    expect(spoofs.body).toEqual([]);
    ok(await asAlpha(["network", "rm", "side"]));
  });
});

describe("NET_RAW", () => {
  it("is not among a tenant container's capabilities, and ping still works", async () => {
    const status = ok(await asAlpha(["run", "--rm", TEST_IMAGE, "grep", "CapEff", "/proc/self/status"]));
    const effective = BigInt(`0x${status.split(/\s+/)[1]}`);
    expect((effective >> CAP_NET_RAW) & 1n).toBe(0n);
    // Docker 20.10 opens it by default too; the proxy does not depend on that.
    expect(ok(await asAlpha(["run", "--rm", TEST_IMAGE, "cat", "/proc/sys/net/ipv4/ping_group_range"]))).toBe("0\t65535");
    const a1 = await engineView("alpha", "a1");
    ok(await asAlpha(["run", "--rm", PING_IMAGE, "ping", "-c", "1", "-W", "3", a1.ip]));
    const raw = await asAlpha(["run", "--rm", TEST_IMAGE, "arping", "-c", "1", "-w", "2", "-I", "eth0", a1.ip]);
    expect(raw.code).not.toBe(0);
    expect(raw.stderr).toMatch(/not permitted|permission denied/i);
  });

  it("cannot be added back, and sysctls stay the service's", async () => {
    const added = await asAlpha(["create", "--cap-add", "NET_RAW", TEST_IMAGE, "true"]);
    expect(added.stderr).toMatch(/CapAdd/);
    const sysctl = await asAlpha(["create", "--sysctl", "net.ipv4.ping_group_range=0 0", TEST_IMAGE, "true"]);
    expect(sysctl.stderr).toMatch(/Sysctls/);
  });
});

describe("the tenant's bridge", () => {
  it("is what `--network bridge`, `--link` and `network connect bridge` mean", async () => {
    const a1 = await engineView("alpha", "a1");
    ok(await asAlpha(["run", "-d", "--name", "a3", "--network", "bridge", TEST_IMAGE, "sleep", "600"]));
    expect((await engineView("alpha", "a3")).networks).toEqual(a1.networks);
    ok(await asAlpha(["run", "--rm", "--link", "a1:db", PING_IMAGE, "ping", "-c", "1", "-W", "3", "db"]));
    ok(await asAlpha(["network", "create", "back"]));
    ok(await asAlpha(["run", "-d", "--name", "a4", "--network", "back", PING_IMAGE, "sleep", "600"]));
    ok(await asAlpha(["network", "connect", "bridge", "a4"]));
    expect((await engineView("alpha", "a4")).networks).toContain(a1.networks[0]);
    ok(await asAlpha(["exec", "a4", "ping", "-c", "1", "-W", "3", "a1"]));
  });

  it("cannot be created by a tenant, is removed only when unused, and comes back with the next container", async () => {
    const created = await asAlpha(["network", "create", "bridge"]);
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain("bridge is a pre-defined network and cannot be created");
    const inUse = await asAlpha(["network", "rm", "bridge"]);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr).toMatch(/bridge.*active endpoints/);
    expect(inUse.stderr).not.toContain("alpha_");
    ok(await asAlpha(["rm", "-f", "a1", "a2", "a3", "a4"]));
    ok(await asAlpha(["network", "rm", "bridge", "back"]));
    expect((await engine.api("GET", "/networks/alpha_bridge")).status).toBe(404);
    // A leading slash, which names drop, does not make a network that would take the bridge's engine name.
    const slashed = await asAlpha(["network", "create", "/bridge"]);
    expect(slashed.stderr).toContain("bridge is a pre-defined network and cannot be created");
    expect((await engine.api("GET", "/networks/alpha_bridge")).status).toBe(404);
    ok(await asAlpha(["run", "--rm", TEST_IMAGE, "true"]));
    expect((await engine.api("GET", "/networks/alpha_bridge")).status).toBe(200);
  });

  it("is looked up once, not at every create, and made again by a create right after the tenant removes or prunes it", async () => {
    const asDelta = asUser(proxy, delta);
    const lookups = () =>
      readFileSync(engine.logFile, "utf8")
        .split("\n")
        .filter((line) => line.includes("Calling GET /v1.41/networks/delta_bridge")).length;
    ok(await asDelta(["run", "--rm", TEST_IMAGE, "true"]));
    const afterFirst = lookups();
    for (let i = 0; i < 3; i++) ok(await asDelta(["run", "--rm", TEST_IMAGE, "true"]));
    expect(lookups()).toBe(afterFirst);

    const createAtOnce = async () => {
      const created = await api(delta, "POST", "/containers/create", { Image: TEST_IMAGE, Cmd: ["true"] });
      expect(created.status, created.text).toBe(201);
      expect((await api(delta, "DELETE", `/containers/${JSON.parse(created.text).Id}`)).status).toBe(204);
    };
    expect((await api(delta, "DELETE", "/networks/bridge")).status).toBe(204);
    await createAtOnce();
    const pruned = await api(delta, "POST", "/networks/prune");
    expect(JSON.parse(pruned.text).NetworksDeleted).toEqual(["bridge"]);
    await createAtOnce();
    expect((await engine.api("GET", "/networks/delta_bridge")).status).toBe(200);
  });

  it("is made once when a tenant's first containers are created at the same time", async () => {
    const asGamma = asUser(proxy, gamma);
    const runs = await Promise.all(Array.from({ length: 4 }, (_, i) => asGamma(["run", "-d", "--name", `g${i}`, TEST_IMAGE, "sleep", "600"])));
    for (const run of runs) ok(run);
    const networks = await engine.api("GET", `/networks?filters=${encodeURIComponent(JSON.stringify({ label: ["berth.tenant=gamma"] }))}`);
    expect((networks.body as { Name: string }[]).map((n) => n.Name)).toEqual(["gamma_bridge"]);
  });
});
