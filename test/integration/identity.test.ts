/**
 * Identity against a real Keystone: valid, expired and revoked tokens, tokens for other projects,
 * membership, the members project, wrong and missing headers, and Keystone outages (a private
 * Keystone, stopped and started again). Refusals happen before the engine is reached: the audit
 * log says so and the engine sees no new container.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeystoneAuthenticator } from "../../tenant-proxy/src/identity/keystone.ts";
import { StaticTokenAuthenticator } from "../../tenant-proxy/src/identity/static-tokens.ts";
import { Refusal } from "../../tenant-proxy/src/http/errors.ts";
import { type Engine, type Keystone, TEST_IMAGE, runDocker, sharedKeystone, startEngine, startKeystone } from "../../scripts/harness/index.ts";
import { type TestProxy, startTestProxy, tenantUser } from "../support/proxy.ts";

const PASSWORD = "identity-password";
let engine: Engine;
let keystone: Keystone;
let proxy: TestProxy;
let tenantA: string;
let tenantB: string;
let members: string;
let suffix: string;

async function call(token: string | undefined, tenant: string | undefined, target = proxy) {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers["X-Auth-Token"] = token;
  if (tenant !== undefined) headers["X-Auth-TenantId"] = tenant;
  const response = await fetch(`http://127.0.0.1:${target.port}/v1.41/containers/json`, { headers });
  return { status: response.status, body: (await response.json()) as any };
}

async function token(user: string, project?: string): Promise<string> {
  return (await keystone.issueToken(user, PASSWORD, project)).token;
}

beforeAll(async () => {
  [engine, keystone] = await Promise.all([startEngine(), startKeystone()]);
  suffix = Math.random().toString(36).slice(2, 8);
  [tenantA, tenantB, members] = await Promise.all(["a", "b", "members"].map((name) => keystone.createProject(`${name}-${suffix}`)));
  await Promise.all([keystone.createUser(`alice-${suffix}`, PASSWORD, [tenantA]), keystone.createUser(`bob-${suffix}`, PASSWORD, [tenantA, tenantB, members])]);
  proxy = await startTestProxy(engine, {
    BERTH_AUTH_BACKEND: "keystone",
    SWARM_KEYSTONE_URL: `${keystone.url}/v3`,
    BERTH_TOKEN_CACHE_SECONDS: "1",
    BERTH_KEYSTONE_TIMEOUT_MS: "2000",
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([engine?.stop(), keystone?.stop()]);
});

describe("Keystone tokens", () => {
  it("a valid project token for its own project works, and the docker CLI uses it", async () => {
    expect((await call(await token(`alice-${suffix}`, tenantA), tenantA)).status).toBe(200);
    const user = tenantUser("alice", tenantA, await token(`alice-${suffix}`, tenantA));
    const run = await runDocker("docker28", ["run", "--rm", TEST_IMAGE, "echo", "authenticated"], { host: proxy.host, configDir: user.configDir });
    expect(run.stdout).toBe("authenticated\n");
  });

  it("a token for another project is refused, unless the user is a member of the tenant", async () => {
    const alice = await token(`alice-${suffix}`, tenantA);
    const refused = await call(alice, tenantB);
    expect(refused).toEqual({ status: 401, body: { message: `the token is not valid for tenant ${tenantB}` } });
    const bob = await token(`bob-${suffix}`, tenantA);
    expect((await call(bob, tenantB)).status).toBe(200);
    expect((await call(await token(`bob-${suffix}`), tenantB)).status).toBe(200); // unscoped, but a member
  });

  it("a revoked token stops working within the cache time", async () => {
    const revoked = await token(`alice-${suffix}`, tenantA);
    expect((await call(revoked, tenantA)).status).toBe(200);
    await keystone.revokeToken(revoked);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await call(revoked, tenantA)).toEqual({ status: 401, body: { message: "invalid, expired or revoked token" } });
  });

  it("a token past its expiry is refused, whatever Keystone still says", async () => {
    const valid = await token(`alice-${suffix}`, tenantA);
    const twoHoursLater = () => Date.now() + 2 * 3600 * 1000;
    const authenticator = new KeystoneAuthenticator(
      { keystoneUrl: keystone.url, cacheTtlMs: 60_000, cacheSize: 10, timeoutMs: 2_000, lookups: { total: 4, perAddress: 4 } },
      twoHoursLater,
    );
    await expect(authenticator.authenticate({ token: valid, tenant: tenantA, address: "127.0.0.1" })).rejects.toMatchObject({
      status: 401,
      message: "the token has expired",
    });
  });

  it("garbage, missing and malformed headers are refused before the engine", async () => {
    const before = (await engine.api("GET", "/containers/json?all=1")).body.length;
    expect(await call("not-a-token", tenantA)).toEqual({ status: 401, body: { message: "invalid, expired or revoked token" } });
    expect((await call(undefined, tenantA)).body.message).toContain("missing X-Auth-Token");
    expect((await call(await token(`alice-${suffix}`, tenantA), undefined)).status).toBe(401);
    expect((await call(await token(`alice-${suffix}`, tenantA), "bad_tenant!")).body.message).toBe("malformed X-Auth-TenantId header");
    const user = tenantUser("nobody", tenantA, "not-a-token");
    const run = await runDocker("docker28", ["run", "--rm", TEST_IMAGE, "true"], { host: proxy.host, configDir: user.configDir });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("invalid, expired or revoked token");
    expect((await engine.api("GET", "/containers/json?all=1")).body.length).toBe(before);
    expect(proxy.refusals.filter((r) => r.refusal.reason === "unauthenticated").length).toBeGreaterThanOrEqual(5);
  });

  it("a Keystone outage is a 503 that says so, never access; service resumes when Keystone does", async () => {
    const fresh = await token(`alice-${suffix}`, tenantA);
    await keystone.stop();
    try {
      const during = await call(fresh, tenantA);
      expect(during.status).toBe(503);
      expect(during.body.message).toContain("identity service unavailable");
    } finally {
      await keystone.start();
    }
    expect((await call(fresh, tenantA)).status).toBe(200);
  });
});

describe("a flood of unknown tokens", () => {
  // Found by the attacker's pass: every unknown token costs a Keystone lookup, and nothing bounded
  // how many ran at once, so anyone could send random tokens until Keystone answered 503 for all.
  it("gets at most the lookups an address may have at once, and leaves known tokens served", async () => {
    const bounded = await startTestProxy(engine, {
      BERTH_AUTH_BACKEND: "keystone",
      SWARM_KEYSTONE_URL: `${keystone.url}/v3`,
      BERTH_KEYSTONE_MAX_LOOKUPS_PER_ADDRESS: "2",
    });
    try {
      const known = await token(`alice-${suffix}`, tenantA);
      expect((await call(known, tenantA, bounded)).status).toBe(200);
      const flood = await Promise.all(Array.from({ length: 30 }, (_, n) => call(`random-token-${n}-${Math.random()}`, tenantA, bounded)));
      const statuses = flood.map((answer) => answer.status);
      expect(
        flood.filter((answer) => answer.status !== 401 && answer.status !== 429),
        statuses.join(","),
      ).toEqual([]);
      expect(statuses.filter((status) => status === 401).length).toBeGreaterThanOrEqual(2);
      const refused = flood.find((answer) => answer.status === 429);
      expect(refused?.body.message).toBe("too many token checks in progress from your address (at most 2 at once): try again");
      // A token the proxy already knows needs no lookup; once the flood is over, new ones are checked again.
      const during = call(known, tenantA, bounded);
      await Promise.all(Array.from({ length: 10 }, (_, n) => call(`random-again-${n}`, tenantA, bounded)));
      expect((await during).status).toBe(200);
      expect((await call(await token(`bob-${suffix}`, tenantA), tenantA, bounded)).status).toBe(200);
    } finally {
      await bounded.stop();
    }
  });
});

describe("the members project (SWARM_MEMBERS_TENANT_ID)", () => {
  let restricted: TestProxy;
  beforeAll(async () => {
    restricted = await startTestProxy(engine, { BERTH_AUTH_BACKEND: "keystone", SWARM_KEYSTONE_URL: keystone.url, SWARM_MEMBERS_TENANT_ID: members });
  });
  afterAll(() => restricted?.stop());

  it("lets members in and keeps everyone else out", async () => {
    expect((await call(await token(`bob-${suffix}`, tenantA), tenantA, restricted)).status).toBe(200);
    expect(await call(await token(`alice-${suffix}`, tenantA), tenantA, restricted)).toEqual({
      status: 403,
      body: { message: "this service is open to members of its members project only" },
    });
  });
});

describe("the shared Keystone's admin tenant and pass-through mode", () => {
  it("passes everything through with SWARM_MULTI_TENANT=false", async () => {
    const open = await startTestProxy(engine, { SWARM_MULTI_TENANT: "false", BERTH_AUTH_BACKEND: "none" });
    try {
      await engine.docker(["run", "-d", "--name", "unscoped-by-admin", TEST_IMAGE, "sleep", "100"]);
      const listed = await runDocker("docker20", ["ps", "--format", "{{.Names}}"], { host: open.host });
      expect(listed.stdout.split("\n")).toContain("unscoped-by-admin");
    } finally {
      await open.stop();
    }
  });

  it("the shared Keystone serves the same checks (a smoke test of sharedKeystone)", async () => {
    const shared = sharedKeystone();
    const project = await shared.createProject(`smoke-${suffix}`);
    await shared.createUser(`smoke-${suffix}`, PASSWORD, [project]);
    const sharedProxy = await startTestProxy(engine, { BERTH_AUTH_BACKEND: "keystone", SWARM_KEYSTONE_URL: shared.url });
    try {
      expect((await call((await shared.issueToken(`smoke-${suffix}`, PASSWORD, project)).token, project, sharedProxy)).status).toBe(200);
    } finally {
      await sharedProxy.stop();
    }
  });
});

describe("static tokens", () => {
  it("maps a token to its user and tenant, and refuses it for another tenant", async () => {
    const authenticator = new StaticTokenAuthenticator([
      { token: "token-abcdefgh", user: "u", tenant: "t1" },
      { token: "token-admin-1", user: "root", tenant: "ops", admin: true },
    ]);
    expect(await authenticator.authenticate({ token: "token-abcdefgh", tenant: "t1", address: "127.0.0.1" })).toEqual({
      user: "u",
      tenant: "t1",
      admin: false,
    });
    expect((await authenticator.authenticate({ token: "token-admin-1", tenant: "ops", address: "127.0.0.1" })).admin).toBe(true);
    await expect(authenticator.authenticate({ token: "token-abcdefgh", tenant: "t2", address: "127.0.0.1" })).rejects.toBeInstanceOf(Refusal);
    await expect(authenticator.authenticate({ token: "token-unknown", tenant: "t1", address: "127.0.0.1" })).rejects.toMatchObject({ status: 401 });
  });
});
