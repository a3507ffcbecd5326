/**
 * Creates placed and quota-checked from the proxy's in-memory cluster state and its reservations,
 * on two real engines in cluster mode: an engine refusing a create after its reservation, creates
 * racing at the edge, updates racing creates, an engine that stops answering in the middle of a
 * create, the event stream dropping while containers appear behind the proxy's back, and a restart
 * with containers present. After each, what the tenant holds is counted on the engines directly.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE } from "../../scripts/harness/index.ts";
import type { TestProxy } from "../support/proxy.ts";
import { asTenant, startStateCluster, stopStateCluster } from "../support/state-cluster.ts";
import { testDir } from "../support/test-dir.ts";

const MIB = 1024 * 1024;
const dir = testDir("create-state");
const tenants = ["edge", "failing", "racing", "vanishing", "dropped", "restarted", "imaging"];

let engines: Engine[];
let proxy: TestProxy;

beforeAll(async () => {
  ({ engines, proxy } = await startStateCluster(dir, tenants, {
    Containers: 4,
    tenants: { racing: { Containers: 20, Memory: 300 }, vanishing: { Containers: 2 } },
  }));
}, 120_000);

afterAll(() => stopStateCluster({ engines, proxy }));

const api = (tenant: string, method: string, path: string, body?: unknown) => asTenant(proxy, tenant, method, path, body);

const create = (tenant: string, body: Record<string, unknown> = {}, name?: string) =>
  api(tenant, "POST", `/containers/create${name ? `?name=${name}` : ""}`, { Image: TEST_IMAGE, Cmd: ["true"], ...body });

/** The tenant's containers on the engines, asked of them directly. */
async function held(tenant: string, among = engines): Promise<{ id: string; name: string; memory: number }[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`berth.tenant=${tenant}`] }));
  const lists = await Promise.all(among.map((engine) => engine.api("GET", `/containers/json?all=1&filters=${filters}`)));
  const ids = lists.flatMap((listed) => (listed.body as { Id: string }[]).map((c) => c.Id));
  return Promise.all(
    ids.map(async (id) => {
      const found = await Promise.all(among.map((engine) => engine.api("GET", `/containers/${id}/json`)));
      const inspected = found.find((answer) => answer.status === 200)!.body;
      return { id, name: String(inspected.Name).replace(/^\//, ""), memory: Number(inspected.HostConfig.Memory) };
    }),
  );
}

describe("creates from the cluster state", () => {
  it("name an unnamed container in the tenant's scope in the create itself", async () => {
    const created = await create("edge");
    expect(created.status).toBe(201);
    const [container] = await held("edge");
    expect(container!.name).toMatch(/^edge_[a-z]+_[a-z]+\d*$/);
    const inspected = await api("edge", "GET", `/containers/${created.body.Id}/json`);
    expect(inspected.body.Name).toMatch(/^\/[a-z]+_[a-z]+\d*$/);
    expect((await api("edge", "DELETE", `/containers/${created.body.Id}`)).status).toBe(204);
  });

  it("never let 30 concurrent creates over two nodes go over the container quota", async () => {
    const results = await Promise.all(Array.from({ length: 30 }, () => create("edge")));
    expect(results.filter((r) => r.status === 201)).toHaveLength(4);
    for (const refused of results.filter((r) => r.status !== 201)) expect(refused.body.message).toContain("container quota exceeded: limit 4");
    expect(await held("edge")).toHaveLength(4);
    const nodes = await Promise.all(
      engines.map(
        async (engine) =>
          (await engine.api("GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ["berth.tenant=edge"] }))}`)).body.length,
      ),
    );
    expect(nodes).toEqual([2, 2]);
  });

  it("release the reservation of a create the engine refuses, exactly", async () => {
    expect((await create("failing")).status).toBe(201);
    // Under the engine's minimum of 6 MB: the proxy lets it through, the engine refuses it.
    const refused = await create("failing", { HostConfig: { Memory: 1024 } });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/[Mm]inimum memory limit/);
    for (let i = 0; i < 3; i++) expect((await create("failing")).status).toBe(201);
    const over = await create("failing");
    expect(over.body.message).toContain("container quota exceeded: limit 4, in use 4, requested 1");
    expect(await held("failing")).toHaveLength(4);
  });

  it("keep updates racing creates within the memory quota", async () => {
    const first = await create("racing", { HostConfig: { Memory: 64 * MIB } });
    expect(first.status).toBe(201);
    const results = await Promise.all([
      api("racing", "POST", `/containers/${first.body.Id}/update`, { Memory: 200 * MIB, MemorySwap: -1 }),
      ...Array.from({ length: 6 }, () => create("racing", { HostConfig: { Memory: 64 * MIB } })),
      api("racing", "POST", `/containers/${first.body.Id}/update`, { Memory: 128 * MIB, MemorySwap: -1 }),
    ]);
    for (const result of results) if (result.status >= 300) expect(result.body.message).toContain("memory quota exceeded: limit 300 MB");
    const memory = (await held("racing")).reduce((sum, c) => sum + c.memory, 0);
    expect(memory).toBeLessThanOrEqual(300 * MIB);
    // The proxy's count is the engines': whatever is left fits exactly.
    const left = 300 * MIB - memory;
    const fits = Math.floor(left / (6 * MIB));
    if (fits > 0) expect((await create("racing", { HostConfig: { Memory: fits * 6 * MIB } })).status).toBe(201);
    expect((await create("racing", { HostConfig: { Memory: 6 * MIB } })).body.message).toContain("memory quota exceeded");
  });

  it("count a create the engine did not answer until the node is read again, so a late create cannot go over", async () => {
    expect((await create("vanishing")).status).toBe(201);
    const host2 = engines[1]!;
    host2.pause();
    let pending: Promise<{ status: number; body: any }>;
    try {
      pending = create("vanishing", { Env: [`constraint:node==${host2.name}`] });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The first is on its way: the tenant's second container is reserved, a third is over.
      const meanwhile = await create("vanishing", { Env: [`constraint:node!=${host2.name}`] });
      expect(meanwhile.body.message).toContain("container quota exceeded: limit 2, in use 2, requested 1");
      expect((await pending).status).toBeGreaterThanOrEqual(500);
    } finally {
      host2.resume();
    }
    // The paused engine may still carry the create out now; whatever it did, the count follows it.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = await create("vanishing", { Env: [`constraint:node!=${host2.name}`] });
    const onEngines = (await held("vanishing")).length;
    expect(onEngines).toBeLessThanOrEqual(2);
    if (after.status !== 201) expect(after.body.message).toContain(`in use ${onEngines}`);
  });

  it("read a node again when its event stream drops, counting containers made meanwhile", async () => {
    expect((await create("dropped")).status).toBe(201);
    const host1 = engines[0]!;
    // Every connection of this process to host1's API ends: the event stream with them.
    execFileSync("ss", ["-K", "dst", host1.address, "dport", "=", ":2375"], { stdio: "ignore" });
    for (let i = 0; i < 2; i++) {
      const made = await host1.api("POST", `/containers/create?name=dropped_behind-${i}`, {
        Image: TEST_IMAGE,
        Cmd: ["true"],
        Labels: { "berth.tenant": "dropped" },
      });
      expect(made.status).toBe(201);
    }
    // The proxy reads the node again within about a second of the drop (sooner at a create). Until
    // then its state may lack what was made on the engine behind its back - never what tenants made
    // through it, which it counts itself - so the creates come once that window has passed.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const results = await Promise.all([create("dropped"), create("dropped")]);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(await held("dropped")).toHaveLength(4);
  });

  it("read an image again once it changed on the node, not an inspect kept from before", async () => {
    for (const engine of engines) expect((await engine.api("POST", `/images/${TEST_IMAGE}/tag?repo=kept&tag=1`)).status).toBe(201);
    expect((await create("imaging", { Image: "kept:1", Env: [`constraint:node==${engines[0]!.name}`] }, "kept-before")).status).toBe(201);
    // Behind the proxy's back, kept:1 becomes an image with a label of the reserved prefix.
    for (const engine of engines) {
      const base = await engine.api("POST", "/containers/create", { Image: TEST_IMAGE, Cmd: ["true"] });
      expect((await engine.api("POST", `/commit?container=${base.body.Id}&repo=kept&tag=1`, { Labels: { "berth.tenant": "someone-else" } })).status).toBe(201);
      await engine.api("DELETE", `/containers/${base.body.Id}`);
    }
    const after = await create("imaging", { Image: "kept:1", Env: [`constraint:node==${engines[0]!.name}`] }, "kept-after");
    expect(after.status).toBe(400);
    expect(after.body.message).toContain("berth.");
    expect((await api("imaging", "DELETE", "/containers/kept-before")).status).toBe(204);
  });

  it("rebuild the state after a restart, so the first creates count what the engines hold", async () => {
    for (let i = 0; i < 2; i++) expect((await create("restarted")).status).toBe(201);
    const made = await engines[1]!.api("POST", "/containers/create?name=restarted_direct", {
      Image: TEST_IMAGE,
      Cmd: ["true"],
      Labels: { "berth.tenant": "restarted" },
    });
    expect(made.status).toBe(201);
    await proxy.restart();
    const results = await Promise.all([create("restarted"), create("restarted"), create("restarted")]);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const refused of results.filter((r) => r.status !== 201)) expect(refused.body.message).toContain("container quota exceeded: limit 4, in use 4");
    expect(await held("restarted")).toHaveLength(4);
  });
});
