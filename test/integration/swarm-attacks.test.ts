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
