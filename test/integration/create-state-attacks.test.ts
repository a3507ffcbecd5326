/**
 * A hostile tenant against the in-memory cluster state (upstream/node-state.ts) that places
 * creates and checks names and quotas without asking the engines: two real engines in cluster
 * mode, and what the tenant ends up with asked of the engines directly.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, waitFor } from "../../scripts/harness/index.ts";
import type { TestProxy } from "../support/proxy.ts";
import { asTenant, startStateCluster, stopStateCluster } from "../support/state-cluster.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("create-state-attacks");
const tenants = ["renamer", "hoarder", "locker", "victim", "bystander"];

let engines: Engine[];
let proxy: TestProxy;

beforeAll(async () => {
  ({ engines, proxy } = await startStateCluster(dir, tenants, { tenants: { victim: { Containers: 1 } } }));
}, 120_000);

afterAll(() => stopStateCluster({ engines, proxy }));

const api = (tenant: string, method: string, path: string, body?: unknown) => asTenant(proxy, tenant, method, path, body);

const create = (tenant: string, name: string, body: Record<string, unknown> = {}) =>
  api(tenant, "POST", `/containers/create?name=${name}`, { Image: TEST_IMAGE, Cmd: ["true"], ...body });

/** Until the container has written its /big (a fixed wait was too short on a busy machine). */
async function untilWritten(node: Engine, engineName: string): Promise<void> {
  expect(await waitFor(async () => (await node.docker(["exec", engineName, "test", "-f", "/written"])).code === 0, 60_000, 200)).toBe(true);
}

/** How many containers the engines hold under one engine name. */
async function holders(engineName: string): Promise<number> {
  const found = await Promise.all(engines.map((engine) => engine.api("GET", `/containers/${engineName}/json`)));
  return found.filter((answer) => answer.status === 200).length;
}

describe("names kept unique across nodes by the cluster state", () => {
  it("never let a named create on another node take the name a rename just took", async () => {
    const [first, second] = engines.map((engine) => engine.name);
    const holding: number[] = [];
    for (let i = 0; i < 5; i++) {
      expect((await create("renamer", `old-${i}`, { Env: [`constraint:node==${first}`] })).status).toBe(201);
      expect((await api("renamer", "POST", `/containers/old-${i}/rename?name=new-${i}`)).status).toBe(204);
      const created = await create("renamer", `new-${i}`, { Env: [`constraint:node==${second}`] });
      holding.push(await holders(`renamer_new-${i}`));
      expect(created.status).toBe(409);
      expect(created.body.message).toContain("is already in use");
    }
    expect(holding).toEqual([1, 1, 1, 1, 1]);
  });

  it("never let a rename and a named create on another node both take one name", async () => {
    const [first, second] = engines.map((engine) => engine.name);
    const holding: number[] = [];
    for (let i = 0; i < 5; i++) {
      expect((await create("renamer", `from-${i}`, { Env: [`constraint:node==${first}`] })).status).toBe(201);
      const [renamed, created] = await Promise.all([
        api("renamer", "POST", `/containers/from-${i}/rename?name=to-${i}`),
        create("renamer", `to-${i}`, { Env: [`constraint:node==${second}`] }),
      ]);
      holding.push(await holders(`renamer_to-${i}`));
      // Whichever came first has the name; the other is told it is in use.
      const refused = [renamed, created].filter((answer) => answer.status >= 300);
      expect(refused).toHaveLength(1);
      expect(refused[0]!.body.message).toContain("is already in use");
    }
    expect(holding).toEqual([1, 1, 1, 1, 1]);
  });
});

/** The heap in use after a full collection (the proxy runs in this process). */
function heapAfterCollection(): number {
  setFlagsFromString("--expose-gc");
  const collect = runInNewContext("gc") as () => void;
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

describe("image inspects the cluster state keeps for creates", () => {
  it("keep no image's whole inspect however many spellings of it a tenant creates from", async () => {
    // An image whose config is large (1 MB of labels, as a tenant can push to a registry and pull).
    const engine = engines[0]!;
    const base = await engine.api("POST", "/containers/create", { Image: TEST_IMAGE, Cmd: ["true"] });
    const committed = await engine.api("POST", `/commit?container=${base.body.Id}&repo=bulky&tag=1`, { Labels: { bulk: "x".repeat(1024 * 1024) } });
    expect(committed.status).toBe(201);
    await engine.api("DELETE", `/containers/${base.body.Id}`);
    const id = String(committed.body.Id).replace(/^sha256:/, "");
    // The engine takes any unique prefix of the id, with or without its algorithm: ~100 paths for one image.
    const spellings = Array.from({ length: 52 }, (_, i) => id.slice(0, 12 + i)).flatMap((prefix) => [prefix, `sha256:${prefix}`]);
    const before = heapAfterCollection();
    for (const image of spellings) {
      const refused = await api("hoarder", "POST", "/containers/create", { Image: image, Cmd: ["true"], Env: [`constraint:node==${engine.name}`] });
      expect(refused.body.message ?? refused.body).toContain("bytes is over the limit");
    }
    const grown = heapAfterCollection() - before;
    expect(grown).toBeLessThan(20 * 1024 * 1024);
  });
});

/** A tenant's `docker cp` out of a container through the proxy, its body left unread. */
function unreadArchive(tenant: string, container: string, path: string): Promise<{ request: ClientRequest; response: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: "127.0.0.1",
      port: proxy.port,
      method: "GET",
      path: `/v1.41/containers/${container}/archive?path=${encodeURIComponent(path)}`,
      headers: { "x-auth-token": `token-${tenant}-0123`, "x-auth-tenantid": tenant },
    });
    request.on("response", (response) => {
      response.pause();
      resolve({ request, response });
    });
    request.on("error", reject);
    request.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("events applied while a tenant holds a container's lock", () => {
  it("count another tenant's removed container as gone while a tenant keeps its own container locked", async () => {
    const node = engines[0]!;
    const onNode = { Env: [`constraint:node==${node.name}`] };
    expect((await create("victim", "kept", onNode)).status).toBe(201);
    // The engine holds a container's lock until a `docker cp` out of it is read to the end.
    const locked = await create("locker", "locked", {
      ...onNode,
      Cmd: ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null; touch /written; sleep 600"],
    });
    expect(locked.status).toBe(201);
    expect((await api("locker", "POST", "/containers/locked/start")).status).toBe(204);
    await untilWritten(node, "locker_locked");
    // By its full id, which the proxy has resolved already: the rename and the copies reach the engine
    // without an inspect of their own. By name, each waited for the lock in an inspect first, and the
    // rename and the second copy then raced for it once the first copy ended.
    const id = String(locked.body.Id);
    const holding: ClientRequest[] = [];
    try {
      holding.push((await unreadArchive("locker", id, "/big")).request);
      // A rename waits for the lock, a second copy behind it (the engine hands its lock to waiters in
      // turn): the rename's event comes once the first copy ends, and the proxy's inspect on it waits
      // behind the second copy.
      const renamed = api("locker", "POST", `/containers/${id}/rename?name=renamed`);
      await sleep(500);
      const second = unreadArchive("locker", id, "/big");
      await sleep(500);
      holding.shift()!.destroy();
      const renameAnswer = await renamed;
      expect(renameAnswer.status, JSON.stringify(renameAnswer.body)).toBe(204);
      holding.push((await second).request);
      await sleep(500);
      expect((await api("victim", "DELETE", "/containers/kept")).status).toBe(204);
      await sleep(500);
      const again = await create("victim", "again", onNode);
      expect(again.body.message ?? "").not.toContain("quota exceeded");
      expect(again.status).toBe(201);
    } finally {
      for (const request of holding) request.destroy();
    }
  }, 60_000);

  it("answer a rename that waited behind the tenant's own unread copy longer than the engine timeout with what the engine did", async () => {
    const node = engines[0]!;
    const created = await create("locker", "slow-rename", {
      Env: [`constraint:node==${node.name}`],
      Cmd: ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null; touch /written; sleep 600"],
    });
    expect(created.status).toBe(201);
    expect((await api("locker", "POST", "/containers/slow-rename/start")).status).toBe(204);
    await untilWritten(node, "locker_slow-rename");
    const id = String(created.body.Id);
    const { request: copy } = await unreadArchive("locker", id, "/big");
    try {
      const renamed = api("locker", "POST", `/containers/${id}/rename?name=renamed-late`);
      // Past the proxy's engine timeout (3 s here): a timed call was answered 502, then done anyway.
      await sleep(4_500);
      copy.destroy();
      const answer = await renamed;
      expect(answer.status, JSON.stringify(answer.body)).toBe(204);
      expect((await node.api("GET", `/containers/${id}/json`)).body.Name).toBe("/locker_renamed-late");
    } finally {
      copy.destroy();
    }
  }, 60_000);

  it("place creates by memory on a node where a tenant's update went unanswered behind its container's lock", async () => {
    const node = engines[0]!;
    const onNode = { Env: [`constraint:node==${node.name}`] };
    const frozen = await create("locker", "frozen", {
      ...onNode,
      HostConfig: { Memory: 64 * 1024 * 1024 },
      Cmd: ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null; touch /written; sleep 600"],
    });
    expect(frozen.status).toBe(201);
    expect((await api("locker", "POST", "/containers/frozen/start")).status).toBe(204);
    await untilWritten(node, "locker_frozen");
    const { request: copy } = await unreadArchive("locker", "frozen", "/big");
    try {
      // The update waits for the lock on the engine: the proxy gives up on it after its engine timeout.
      const update = await api("locker", "POST", `/containers/${frozen.body.Id}/update`, { Memory: 128 * 1024 * 1024, MemorySwap: -1 });
      expect(update.status).toBeGreaterThanOrEqual(500);
      const started = Date.now();
      const placed = await create("bystander", "sized", { ...onNode, HostConfig: { Memory: 32 * 1024 * 1024 } });
      expect(placed.body.message ?? "").toBe("");
      expect(placed.status).toBe(201);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      copy.destroy();
    }
  }, 60_000);
});
