/**
 * How a container reference resolves when it could be a name and an id prefix at once: the proxy
 * asks for both together (one round trip instead of two), and must still answer as Docker does (the
 * name wins over an id prefix) and only inside the caller's own containers (another tenant's name or
 * id never wins, never makes a prefix ambiguous). Two tenants on one real engine, through the proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, startEngine } from "../../scripts/harness/index.ts";
import { TenantScope } from "../../tenant-proxy/src/ownership.ts";
import { Resolver } from "../../tenant-proxy/src/resolver.ts";
import { Cluster } from "../../tenant-proxy/src/upstream/cluster.ts";
import type { JsonAnswer, Upstream } from "../../tenant-proxy/src/upstream/engine.ts";
import { testDir } from "../support/test-dir.ts";
import { type TestProxy, startTestProxy } from "../support/proxy.ts";

const dir = testDir("references");
const tenants = { owner: "owner-token-1", other: "other-token-1" };
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file(
    "tokens.json",
    Object.entries(tenants).map(([tenant, token]) => ({ token, user: tenant, tenant })),
  ),
};

let engine: Engine;
let proxy: TestProxy;
const ids: Record<keyof typeof tenants, string[]> = { owner: [], other: [] };

async function api(tenant: keyof typeof tenants, method: string, path: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${proxy.port}/v1.41${path}`, {
    method,
    headers: { "x-auth-token": tenants[tenant], "x-auth-tenantid": tenant, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function create(tenant: keyof typeof tenants, name?: string): Promise<string> {
  const created = await api(tenant, "POST", `/containers/create${name ? `?name=${name}` : ""}`, { Image: TEST_IMAGE, Cmd: ["true"] });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  ids[tenant].push(created.body.Id);
  return created.body.Id;
}

const firstChars = (list: string[]) => list.map((id) => id[0]!);
const count = (list: string[], char: string) => list.filter((c) => c === char).length;
/** A first id character exactly one of the owner's containers has. */
const ownerUniqueChars = () => [...new Set(firstChars(ids.owner))].filter((c) => count(firstChars(ids.owner), c) === 1);

beforeAll(async () => {
  engine = await startEngine();
  proxy = await startTestProxy(engine, env);
  // The owner gets containers until two share a first id character (17 at most: 16 hex digits)
  // and another one has a first character of its own.
  const shared = () => firstChars(ids.owner).some((c) => count(firstChars(ids.owner), c) > 1);
  while (!shared() || ownerUniqueChars().length === 0) await create("owner");
  // The other tenant gets containers until one starts like one of the owner's unique ones.
  for (let tries = 0; tries < 200 && !firstChars(ids.other).some((c) => ownerUniqueChars().includes(c)); tries++) await create("other");
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

// First, while the owner's containers are exactly those made above (later tests add more).
describe("an id prefix several containers share", () => {
  it("is ambiguous when two of the caller's own containers start with it", async () => {
    const char = firstChars(ids.owner).find((c) => count(firstChars(ids.owner), c) > 1)!;
    const answer = await api("owner", "GET", `/containers/${char}/json`);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe(`multiple IDs found with provided prefix: ${char}`);
  });

  it("is the caller's one container when only another tenant's containers share it", async () => {
    const char = ownerUniqueChars().find((c) => firstChars(ids.other).includes(c));
    expect(char, "the other tenant has a container starting like one of the owner's").toBeDefined();
    const answer = await api("owner", "GET", `/containers/${char}/json`);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.Id).toBe(ids.owner.find((id) => id.startsWith(char!)));
  });
});

describe("a reference that is both a name and an id prefix", () => {
  it("resolves to the caller's container of that name, not to the container whose id starts so", async () => {
    const target = ids.owner[0]!;
    const prefix = target.slice(0, 6);
    const named = await create("owner", prefix);
    expect((await api("owner", "GET", `/containers/${prefix}/json`)).body.Id).toBe(named);
    expect((await api("owner", "GET", `/containers/${target.slice(0, 7)}/json`)).body.Id).toBe(target);
  });

  it("another tenant's container of that name does not hide the caller's id prefix", async () => {
    const target = ids.owner[1]!;
    const prefix = target.slice(0, 5);
    const othersNamed = await create("other", prefix);
    expect((await api("owner", "GET", `/containers/${prefix}/json`)).body.Id).toBe(target);
    expect((await api("other", "GET", `/containers/${prefix}/json`)).body.Id).toBe(othersNamed);
  });
});

describe("the lookups behind a short id", () => {
  /** The real engine, with each of the proxy's own calls recorded as it starts and as it ends. */
  function recorded(upstream: Upstream, events: string[]): Upstream {
    return Object.assign(Object.create(upstream) as Upstream, {
      json: async (method: string, path: string, body?: unknown): Promise<JsonAnswer> => {
        const call = path.includes("/containers/json") ? "list" : path.includes("/containers/owner_") ? "name" : "id";
        events.push(`${call} asked`);
        try {
          return await upstream.json(method, path, body);
        } finally {
          events.push(`${call} answered`);
        }
      },
    });
  }

  it("asks for the name and lists the caller's own containers at once: one round trip", async () => {
    const cluster = new Cluster([{ name: "engine", address: { kind: "unix", path: engine.socketPath } }], false, {
      timeoutMs: 10_000,
      healthIntervalMs: 60_000,
      fanOutTimeoutMs: 10_000,
    });
    const events: string[] = [];
    cluster.nodes[0]!.engine = recorded(cluster.nodes[0]!.engine, events);
    try {
      const target = ids.owner[2]!;
      const found = await new Resolver(cluster).container(new TenantScope("owner"), target.slice(0, 8));
      expect(found.id).toBe(target);
      expect(events.slice(0, 2).sort()).toEqual(["list asked", "name asked"]);
      expect(events).toHaveLength(4);
    } finally {
      cluster.stop();
    }
  });

  // A tenant that could tell "another tenant has a container starting so" from "nobody has" could
  // enumerate every id on the engine a digit at a time (and make the difference as large as it likes
  // by owning many containers, since the slower path lists them).
  it("makes the same calls whether or not another tenant's container starts with the prefix", async () => {
    const cluster = new Cluster([{ name: "engine", address: { kind: "unix", path: engine.socketPath } }], false, {
      timeoutMs: 10_000,
      healthIntervalMs: 60_000,
      fanOutTimeoutMs: 10_000,
    });
    const calls = async (prefix: string) => {
      const events: string[] = [];
      cluster.nodes[0]!.engine = recorded(upstream, events);
      await expect(new Resolver(cluster).container(new TenantScope("owner"), prefix)).rejects.toMatchObject({ status: 404 });
      return events.filter((event) => event.endsWith("asked")).sort();
    };
    const upstream = cluster.nodes[0]!.engine;
    try {
      const othersPrefix = ids.other.find((id) => !ids.owner.some((own) => own.startsWith(id.slice(0, 12))))!.slice(0, 12);
      const nobodysPrefix = ["0123456789ab", "ba9876543210"].find((p) => ![...ids.owner, ...ids.other].some((id) => id.startsWith(p)))!;
      expect(await calls(othersPrefix)).toEqual(await calls(nobodysPrefix));
    } finally {
      cluster.stop();
    }
  });
});
