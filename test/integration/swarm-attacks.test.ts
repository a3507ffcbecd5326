/**
 * Attacks on the current engine line's swarm (issue 14), as a hostile tenant through the proxy: two
 * Docker 26 engines in a swarm (docker-host-1 the manager), driven by the stock docker CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_IMAGE } from "../../scripts/harness/index.ts";
import { type TestCluster, startTestCluster } from "../support/cluster.ts";
import { type TestProxy, asUser, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("swarm-attacks");
const alice = tenantUser("alice", "tenant-a", "token-swarm-a");
const bob = tenantUser("bob", "tenant-b", "token-swarm-b");
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file("tokens.json", [
    { token: alice.token, user: "alice", tenant: alice.tenant },
    { token: bob.token, user: "bob", tenant: bob.tenant },
  ]),
};

let cluster: TestCluster;
const proxies: TestProxy[] = [];

function ok(result: { code: number; stdout: string; stderr: string }): string {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  cluster = await startTestCluster([[], []], { line: "current" });
}, 240_000);

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.stop()));
  await cluster?.stop();
});

async function tenants(extra: Record<string, string> = {}) {
  const proxy = await cluster.startProxy({ ...env, ...extra });
  proxies.push(proxy);
  return { a: asUser(proxy, alice), b: asUser(proxy, bob) };
}

describe("a swarm network's verbose inspect", () => {
  // Docker 26 answers `network inspect --verbose` of a swarm network with `Services`: every endpoint
  // the swarm's gossip knows on it, from every node, by container name, address and node address.
  // The proxy kept only the caller's containers in `Containers` and passed `Services` as it came.
  it("shows a tenant only its own containers on a shared network, not another tenant's by name and address", async () => {
    const { a, b } = await tenants({ SWARM_NETWORK_AUTHORIZATION: "false" });
    ok(await a(["network", "create", "commons"]));
    ok(await a(["run", "-d", "--name", "alices-own", "--network", "commons", "-e", "constraint:node==docker-host-1", TEST_IMAGE, "sleep", "600"]));
    ok(await b(["run", "-d", "--name", "bobs-secret", "--network", "commons", "-e", "constraint:node==docker-host-2", TEST_IMAGE, "sleep", "600"]));
    const bobsAddress = ok(await b(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "bobs-secret"])).trim();
    expect(bobsAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // Gossip carries bob's endpoint to the manager in a moment; read until alice's own shows up too.
    let seen = "";
    for (let i = 0; i < 20 && !seen.includes("alices-own"); i++) {
      seen = ok(await a(["network", "inspect", "--verbose", "commons"]));
      if (!seen.includes("alices-own")) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(seen).not.toContain("bobs-secret");
    expect(seen).not.toContain("tenant-b");
    expect(seen).not.toContain(`"${bobsAddress}`);
    ok(await b(["rm", "-f", "bobs-secret"]));
    ok(await a(["rm", "-f", "alices-own"]));
  });
});

describe("the swarm itself, to a tenant", () => {
  it("keeps the swarm's own networks, its API and other tenants' overlays out of reach", async () => {
    const { a, b } = await tenants();
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const proxy = proxies.at(-1)!;
    const headers = { "x-auth-token": bob.token, "x-auth-tenantid": bob.tenant, "content-type": "application/json" };
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${proxy.port}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const manager = cluster.engines[0]!;
    const ingress = (await manager.api("GET", "/networks/ingress")).body as { Id: string };
    const gateway = (await manager.api("GET", "/networks/docker_gwbridge")).body as { Id: string };
    for (const ref of [ingress.Id, ingress.Id.slice(0, 12), ingress.Id.slice(0, 3), "ingress", gateway.Id.slice(0, 12), "docker_gwbridge"]) {
      expect((await b(["network", "inspect", ref])).code, ref).not.toBe(0);
      expect((await b(["run", "--rm", "--network", ref, TEST_IMAGE, "true"])).code, ref).not.toBe(0);
    }
    for (const path of [
      "/swarm",
      "/v1.41/swarm",
      "/v1.45/swarm",
      "/v1.24/nodes",
      "/nodes",
      "/services",
      "/v1.41/tasks",
      "/secrets",
      "/configs",
      "/v1.41/session",
    ]) {
      const answer = await call("GET", path);
      expect(answer.status, path).toBeGreaterThanOrEqual(400);
      expect(await answer.text(), path).not.toMatch(/SWMTKN|JoinTokens|docker-host/);
    }
    for (const body of [
      { Name: "in", Ingress: true },
      { Name: "cfg", ConfigFrom: { Network: "ingress" } },
      { Name: "only", ConfigOnly: true },
      { Name: "enc", Options: { encrypted: "true" } },
      { Name: "vni", Options: { "com.docker.network.driver.overlay.vxlanid_list": "4097" } },
      { Name: "sub", IPAM: { Config: [{ Subnet: "10.0.0.0/24" }] } },
      { Name: "own", Labels: { "berth.tenant": "tenant-a" } },
    ]) {
      expect((await call("POST", "/v1.41/networks/create", body)).status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
    }
    // A hand-made network stays attachable, whatever the tenant asks for; it is still bob's alone.
    expect((await call("POST", "/v1.41/networks/create", { Name: "closed", Attachable: false, Scope: "local", Driver: "bridge" })).status).toBe(201);
    expect(ok(await b(["network", "inspect", "-f", "{{.Driver}} {{.Scope}} {{.Attachable}}", "closed"])).trim()).toBe("overlay swarm true");
    // Alice's containers by any name the swarm's DNS could know, from bob's own overlay.
    ok(await a(["network", "create", "alices"]));
    ok(await a(["run", "-d", "--name", "target", "--network", "alices", "--network-alias", "shared-alias", TEST_IMAGE, "sleep", "600"]));
    const lookups = ["probe", "target", "tenant-a_target", "tasks.target", "tasks.tenant-a_target", "shared-alias", "tasks.shared-alias"]
      .map((name) => `nslookup ${name} 127.0.0.11 >/dev/null 2>&1 && echo FOUND:${name}`)
      .join("; ");
    const seen = await b(["run", "--rm", "--name", "probe", "--network", "closed", TEST_IMAGE, "sh", "-c", `${lookups}; true`]);
    expect(seen.code, seen.stderr).toBe(0);
    // Its own name resolves, so the lookups work; none of alice's does.
    expect(seen.stdout.match(/FOUND:\S+/g)).toEqual(["FOUND:probe"]);
    ok(await a(["rm", "-f", "target"]));
    // The manager's swarm events (the overlay's create, its attachments) are alice's alone too.
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const events = (tenant: typeof a) => tenant(["events", "--since", since, "--until", until, "--format", "{{json .}}"]);
    expect(ok(await events(a))).toContain("alices");
    expect(ok(await events(b))).not.toMatch(/alices|target|tenant-a|shared-alias/);
  });
});

describe("a swarm network's id in filters", () => {
  // A swarm network's id is 25 characters of [0-9a-z]: the proxy kept only hex values raw in a
  // `network=` filter, so `ps --filter network=<id>` found none of the tenant's own containers.
  it("finds a tenant's containers on its overlay by the overlay's id, and none of another tenant's", async () => {
    const { a, b } = await tenants();
    ok(await a(["network", "create", "filtered"]));
    ok(await a(["run", "-d", "--name", "on-filtered", "--network", "filtered", TEST_IMAGE, "sleep", "600"]));
    const id = ok(await a(["network", "inspect", "-f", "{{.Id}}", "filtered"])).trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    for (const ref of [id, id.slice(0, 12), "filtered"]) {
      expect(ok(await a(["ps", "--filter", `network=${ref}`, "--format", "{{.Names}}"])).trim(), ref).toMatch(/(^|\/)on-filtered$/);
      expect(ok(await b(["ps", "-a", "--filter", `network=${ref}`, "--format", "{{.Names}}"])).trim(), ref).toBe("");
    }
    ok(await a(["rm", "-f", "on-filtered"]));
    ok(await a(["network", "rm", "filtered"]));
  });
});

describe("shared networks on a swarm", () => {
  // While tenants share networks (SWARM_NETWORK_AUTHORIZATION=false), the proxy hid only `host`: a
  // tenant listed the swarm's ingress network and docker_gwbridge, attached a container to
  // docker_gwbridge, and removed both, the ingress and then every node's docker_gwbridge with it.
  // The engine makes docker_gwbridge again on its own pool, outside the node firewall's ARP rule.
  it("keeps the swarm's ingress network and the nodes' docker_gwbridge away from tenants", async () => {
    const { b } = await tenants({ SWARM_NETWORK_AUTHORIZATION: "false" });
    const proxy = proxies.at(-1)!;
    const headers = { "x-auth-token": bob.token, "x-auth-tenantid": bob.tenant };
    const listed = ok(await b(["network", "ls", "--format", "{{.Name}}"]))
      .trim()
      .split("\n");
    expect(listed.filter((name) => /ingress|docker_gwbridge/.test(name))).toEqual([]);
    for (const name of ["ingress", "docker_gwbridge"]) {
      expect((await b(["network", "inspect", name])).code, name).not.toBe(0);
      expect((await b(["run", "--rm", "--network", name, TEST_IMAGE, "true"])).code, name).not.toBe(0);
      const removed = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/networks/${name}`, { method: "DELETE", headers });
      expect(removed.status, name).toBe(404);
    }
    for (const engine of cluster.engines) {
      for (const name of ["ingress", "docker_gwbridge"]) expect((await engine.api("GET", `/networks/${name}`)).status, `${engine.name} ${name}`).toBe(200);
    }
  });
});
