/**
 * The operator's policy against a real engine through the docker CLI: flavors on create and
 * update, quotas (FDCS's file, per-tenant overrides, container counts, concurrent creates at the
 * edge, a restart, a lowered quota), the API filter, the capability allow-list, tmpfs sizes, images
 * with reserved labels, and image changes opened to tenants.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, startEngine, testSandbox } from "../../scripts/harness/index.ts";
import { type TestProxy, asUser, startTestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const MIB = 1024 * 1024;
/** Under gVisor every tenant build is refused first (sandbox.test.ts says why), whatever else it asks. */
const BUILDS_REFUSED = testSandbox() === "gvisor" ? /builds are not available under the runsc runtime/ : undefined;

const dir = testDir("policy");
const tokensFile = dir.file("tokens.json", [
  { token: "token-tenant-a", user: "alice", tenant: "tenant-a" },
  { token: "token-tenant-b", user: "bob", tenant: "tenant-b" },
  { token: "token-tenant-big", user: "carol", tenant: "tenant-big" },
  { token: "token-admin-00", user: "root", tenant: "ops", admin: true },
]);
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const bob = tenantUser("bob", "tenant-b", "token-tenant-b");
const carol = tenantUser("carol", "tenant-big", "token-tenant-big");
const root = tenantUser("root", "ops", "token-admin-00");
const flavors = dir.file("flavors.json", { default: { Memory: 64 }, medium: { Memory: 128 }, large: { Memory: 256 } });
const quota = dir.file("quota.json", { Memory: 300, tenants: { "tenant-big": { Memory: 1024, Containers: 3 } } });
const auth = { BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokensFile };
const enforced = { ...auth, SWARM_FLAVORS_ENFORCED: "true", SWARM_FLAVORS_FILE: flavors, SWARM_ENFORCE_QUOTA: "true", SWARM_QUOTA_FILE: quota };

let engine: Engine;
let proxy: TestProxy;

/** Memory (bytes) of a tenant's containers, read from the engine directly. */
async function memoryOf(tenant: string): Promise<number[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`berth.tenant=${tenant}`] }));
  const listed = await engine.api("GET", `/containers/json?all=1&filters=${filters}`);
  const inspected = await Promise.all((listed.body as { Id: string }[]).map((c) => engine.api("GET", `/containers/${c.Id}/json`)));
  return inspected.map((c) => c.body.HostConfig.Memory);
}

beforeAll(async () => {
  engine = await startEngine();
  proxy = await startTestProxy(engine, enforced);
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

describe("flavors", () => {
  it("give the default to a create without memory or with an unlisted one, and keep listed sizes", async () => {
    const b = asUser(proxy, bob);
    expect((await b(["create", "--name", "plain", TEST_IMAGE, "true"])).code).toBe(0);
    expect((await b(["create", "--name", "medium", "-m", "128m", TEST_IMAGE, "true"])).code).toBe(0);
    expect((await b(["create", "--name", "greedy", "-m", "2g", TEST_IMAGE, "true"])).code).toBe(0);
    const memory = async (name: string) => Number((await b(["inspect", "-f", "{{.HostConfig.Memory}}", name])).stdout.trim());
    expect(await memory("plain")).toBe(64 * MIB);
    expect(await memory("medium")).toBe(128 * MIB);
    expect(await memory("greedy")).toBe(64 * MIB);
  });

  it("keep docker update -m on a listed size", async () => {
    const b = asUser(proxy, bob);
    expect((await b(["rm", "medium", "greedy"])).code).toBe(0);
    const refused = await b(["update", "-m", "1g", "--memory-swap", "1g", "plain"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("memory must be one of the flavors (64, 128, 256 MB)");
    expect((await b(["update", "-m", "256m", "--memory-swap", "256m", "plain"])).code).toBe(0);
    expect(Number((await b(["inspect", "-f", "{{.HostConfig.Memory}}", "plain"])).stdout.trim())).toBe(256 * MIB);
    expect((await b(["rm", "plain"])).code).toBe(0);
  });
});

describe("quotas", () => {
  it("stop a tenant at its memory quota, saying limit, usage and request", async () => {
    const a = asUser(proxy, alice);
    for (const name of ["q1", "q2", "q3", "q4"]) expect((await a(["create", "--name", name, TEST_IMAGE, "true"])).code).toBe(0);
    const fifth = await a(["create", "--name", "q5", TEST_IMAGE, "true"]);
    expect(fifth.code).not.toBe(0);
    expect(fifth.stderr).toContain("memory quota exceeded: limit 300 MB, in use 256 MB, requested 64 MB");
    const bigger = await a(["update", "-m", "128m", "--memory-swap", "128m", "q1"]);
    expect(bigger.stderr).toContain("memory quota exceeded: limit 300 MB, in use 192 MB, requested 128 MB");
    expect((await memoryOf("tenant-a")).reduce((x, y) => x + y, 0)).toBe(256 * MIB);
  });

  it("count from the engine, so a proxy restart changes nothing", async () => {
    await proxy.restart();
    const again = await asUser(proxy, alice)(["create", "--name", "q5", TEST_IMAGE, "true"]);
    expect(again.stderr).toContain("in use 256 MB");
  });

  it("apply per-tenant overrides, container counts included", async () => {
    const c = asUser(proxy, carol);
    for (const name of ["c1", "c2", "c3"]) expect((await c(["create", "--name", name, "-m", "256m", TEST_IMAGE, "true"])).code).toBe(0);
    const fourth = await c(["create", "--name", "c4", TEST_IMAGE, "true"]);
    expect(fourth.stderr).toContain("container quota exceeded: limit 3, in use 3, requested 1");
  });

  it("never let 50 concurrent creates at the edge go over", async () => {
    const b = asUser(proxy, bob);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => b(["create", "--name", `rush-${i}`, TEST_IMAGE, "true"], { timeoutMs: 120_000 })));
    const created = results.filter((r) => r.code === 0).length;
    expect(created).toBe(Math.floor(300 / 64));
    expect(results.filter((r) => r.code !== 0).every((r) => r.stderr.includes("memory quota exceeded"))).toBe(true);
    const memory = await memoryOf("tenant-b");
    expect(memory).toHaveLength(created);
    expect(memory.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(300 * MIB);
  });

  it("check starts against a quota the operator lowered", async () => {
    const lowered = dir.file("quota-lowered.json", { Memory: 100 });
    await proxy.stop();
    proxy = await startTestProxy(engine, { ...enforced, SWARM_QUOTA_FILE: lowered });
    const start = await asUser(proxy, alice)(["start", "q1"]);
    expect(start.code).not.toBe(0);
    expect(start.stderr).toContain("memory quota exceeded: limit 100 MB");
    expect((await engine.api("GET", "/containers/tenant-a_q1/json")).body.State.StartedAt).toBe("0001-01-01T00:00:00Z");
    await proxy.stop();
    proxy = await startTestProxy(engine, enforced);
  });
});

describe("the API filter", () => {
  it("disables the named calls for tenants with a clear error, not for the administrator", async () => {
    const filtered = await startTestProxy(engine, {
      ...auth,
      SWARM_APIFILTER_FILE: dir.file("apifilter.json", { disableapi: ["networkcreate", "networkslist"] }),
    });
    try {
      const attempt = await asUser(filtered, alice)(["network", "create", "blocked"]);
      expect(attempt.code).not.toBe(0);
      expect(attempt.stderr).toContain("NetworkCreate (networkcreate) is disabled on this service");
      expect((await asUser(filtered, alice)(["network", "ls"])).stderr).toContain("(networkslist) is disabled");
      expect((await asUser(filtered, alice)(["ps"])).code).toBe(0);
      expect((await asUser(filtered, root)(["network", "ls", "-q"])).code).toBe(0);
      expect((await engine.api("GET", "/networks/tenant-a_blocked")).status).toBe(404);
    } finally {
      await filtered.stop();
    }
  });
});

describe("host restrictions the operator tunes", () => {
  it("adds only allowed capabilities", async () => {
    const relaxed = await startTestProxy(engine, { ...auth, BERTH_ALLOW_CAPABILITIES: "NET_BIND_SERVICE" });
    try {
      const a = asUser(relaxed, alice);
      expect((await a(["create", "--name", "binder", "--cap-add", "NET_BIND_SERVICE", TEST_IMAGE, "true"])).code).toBe(0);
      const admin = await a(["create", "--name", "escaper", "--cap-add", "SYS_ADMIN", TEST_IMAGE, "true"]);
      expect(admin.stderr).toContain("HostConfig.CapAdd: adding capabilities is not allowed: SYS_ADMIN");
      expect((await engine.api("GET", "/containers/tenant-a_escaper/json")).status).toBe(404);
    } finally {
      await relaxed.stop();
    }
  });

  it("sizes tmpfs mounts under the limit", async () => {
    const plain = await startTestProxy(engine, auth);
    try {
      const b = asUser(plain, bob);
      const df = await b(["run", "--rm", "--tmpfs", "/scratch", TEST_IMAGE, "sh", "-c", "df -k /scratch | tail -1"]);
      expect(df.stdout, df.stderr).toMatch(new RegExp(`(tmpfs|none)\\s+${64 * 1024}\\s`));
      const big = await b(["create", "--tmpfs", "/scratch:size=2g", TEST_IMAGE, "true"]);
      expect(big.stderr).toContain('HostConfig.Tmpfs["/scratch"]: a tmpfs of 2048 MB is over the limit of 64 MB');
    } finally {
      await plain.stop();
    }
  });

  it("refuses images that carry the reserved label prefix", async () => {
    const forged = "berth-test/forged:latest";
    expect((await engine.docker(["create", "--name", "labeller", TEST_IMAGE, "true"])).code).toBe(0);
    expect((await engine.docker(["commit", "--change", "LABEL berth.tenant=tenant-b", "labeller", forged])).code).toBe(0);
    const plain = await startTestProxy(engine, auth);
    try {
      const attempt = await asUser(plain, alice)(["create", forged, "true"]);
      expect(attempt.code).not.toBe(0);
      expect(attempt.stderr).toContain('the label prefix "berth." is reserved');
    } finally {
      await plain.stop();
    }
  });
});

describe("image changes opened to tenants (BERTH_TENANT_IMAGE_CHANGES=true)", () => {
  it("lets tenants tag and remove images, keeps builds off the host network and commits on own containers", async () => {
    const open = await startTestProxy(engine, { ...auth, BERTH_TENANT_IMAGE_CHANGES: "true" });
    try {
      const a = asUser(open, alice);
      const b = asUser(open, bob);
      expect((await a(["tag", TEST_IMAGE, "berth-test/alice:1"])).code).toBe(0);
      expect((await a(["rmi", "berth-test/alice:1"])).code).toBe(0);
      expect((await b(["create", "--name", "bobs", TEST_IMAGE, "true"])).code).toBe(0);
      const steal = await a(["commit", "bobs", "berth-test/stolen:1"]);
      expect(steal.stderr).toContain("No such container: bobs");
      const hostBuild = await fetch(`http://127.0.0.1:${open.port}/v1.41/build?networkmode=host`, {
        method: "POST",
        headers: { "x-auth-token": "token-tenant-a", "x-auth-tenantid": "tenant-a", "content-type": "application/x-tar" },
        body: Buffer.alloc(1024),
      });
      expect(hostBuild.status).toBe(403);
      expect(((await hostBuild.json()) as { message: string }).message).toMatch(BUILDS_REFUSED ?? /networkmode/);
    } finally {
      await open.stop();
    }
    const closed = await asUser(proxy, alice)(["tag", TEST_IMAGE, "berth-test/alice:2"]);
    expect(closed.stderr).toContain("ImageTag is not available to tenants");
  });
  it("keeps imports from URLs, remote build contexts and pushes away from the cluster's private addresses", async () => {
    const open = await startTestProxy(engine, { ...auth, BERTH_TENANT_IMAGE_CHANGES: "true" });
    try {
      const headers = { "x-auth-token": "token-tenant-a", "x-auth-tenantid": "tenant-a" };
      const attempts = [
        ["POST", `/images/create?fromSrc=${encodeURIComponent(`http://${engine.address}:2375/containers/json`)}&repo=berth-test/imported`],
        // The engine pulls whenever fromImage is given, fromSrc or not.
        ["POST", `/images/create?fromSrc=-&fromImage=${encodeURIComponent(`${engine.address}:2375/x`)}&tag=latest`],
        ["POST", `/build?remote=${encodeURIComponent("http://127.0.0.1:2379/v2/keys")}`],
        ["POST", `/build?remote=${encodeURIComponent(`git@${engine.address}:repo.git`)}`],
      ];
      for (const [method, path] of attempts) {
        const answer = await fetch(`http://127.0.0.1:${open.port}/v1.41${path}`, { method, headers: { ...headers, "content-type": "application/x-tar" } });
        const text = await answer.text();
        expect(answer.status, `${path}: ${text}`).toBe(403);
        const refused = path!.startsWith("/build") && BUILDS_REFUSED ? BUILDS_REFUSED : /registry \S+ is not available to tenants of this service/;
        expect(text).toMatch(refused);
      }
      const a = asUser(open, alice);
      expect((await a(["tag", TEST_IMAGE, `${engine.address}:5000/alice:1`])).code).toBe(0);
      const push = await a(["push", `${engine.address}:5000/alice:1`]);
      expect(push.stderr).toContain(`registry ${engine.address}:5000 is not available to tenants of this service`);
      expect((await a(["rmi", `${engine.address}:5000/alice:1`])).code).toBe(0);
    } finally {
      await open.stop();
    }
  });
});
