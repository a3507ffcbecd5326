/**
 * The FDCS introduction (the walk-through FIWARE's Docker Container Service gives its users), step by step, with three users
 * in two tenants of a real Keystone, the stock docker CLIs (28 and Debian's 20.10) and a real dockerd
 * behind the proxy. Every claim the transcript makes is checked, and each refused attempt is also
 * checked against the engine directly: nothing changed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DockerCli, type Engine, TEST_IMAGE, sharedKeystone, startEngine } from "../../scripts/harness/index.ts";
import { type Cast, type TestProxy, asUser, keystoneCast, startTestProxy } from "../support/proxy.ts";

const LOOP = ["sh", "-c", "while true; do echo Hello world; sleep 1; done"];

const names = (stdout: string) => stdout.split("\n").filter(Boolean).sort();

describe.each<DockerCli>(["docker28", "docker20"])("the FDCS transcript with the %s CLI", (cli) => {
  let engine: Engine;
  let proxy: TestProxy;
  let cast: Cast;
  let user1: ReturnType<typeof asUser>;
  let user2: ReturnType<typeof asUser>;
  let user3: ReturnType<typeof asUser>;
  const engineNames = async () => names((await engine.docker(["ps", "-a", "--format", "{{.Names}}"])).stdout);

  beforeAll(async () => {
    [engine, cast] = await Promise.all([startEngine(), keystoneCast(sharedKeystone())]);
    proxy = await startTestProxy(engine, cast.env);
    user1 = asUser(proxy, cast.user1, cli);
    user2 = asUser(proxy, cast.user2, cli);
    user3 = asUser(proxy, cast.user3, cli);
  });
  afterAll(async () => {
    await proxy?.stop();
    await engine?.stop();
  });

  it("tenant 1 starts with an empty ps, runs a container and sees it", async () => {
    expect((await user1(["ps", "-q"])).stdout).toBe("");
    const run = await user1(["run", "--name", "tenant1-loop1", "-d", TEST_IMAGE, ...LOOP]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(names((await user1(["ps", "--format", "{{.Names}}"])).stdout)).toEqual(["tenant1-loop1"]);
  });

  it("tenant 2 runs two containers and sees only its own", async () => {
    for (const name of ["tenant2-loop1", "tenant2-loop2"]) {
      expect((await user2(["run", "--name", name, "-d", TEST_IMAGE, ...LOOP])).code).toBe(0);
    }
    expect(names((await user2(["ps", "--format", "{{.Names}}"])).stdout)).toEqual(["tenant2-loop1", "tenant2-loop2"]);
    expect(names((await user1(["ps", "-a", "--format", "{{.Names}}"])).stdout)).toEqual(["tenant1-loop1"]);
  });

  it("tenant 1 removes its own container", async () => {
    const removed = await user1(["rm", "-f", "tenant1-loop1"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout.trim()).toBe("tenant1-loop1");
    expect((await user1(["ps", "-aq"])).stdout).toBe("");
  });

  it("tenant 1 cannot remove tenant 2's container, by name or by id, and nothing is removed", async () => {
    const before = await engineNames();
    const id = (await user2(["ps", "-q", "--no-trunc", "--filter", "name=tenant2-loop1"])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    for (const ref of ["tenant2-loop1", id.slice(0, 12), id]) {
      // `rm -f` exits 0 on a missing container (the CLI's choice) but says so, as in the transcript.
      expect((await user1(["rm", "-f", ref])).stderr).toContain(`No such container: ${ref}`);
      const plain = await user1(["rm", ref]);
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain(`No such container: ${ref}`);
    }
    expect(await engineNames()).toEqual(before);
    expect(names((await user2(["ps", "--format", "{{.Names}}"])).stdout)).toEqual(["tenant2-loop1", "tenant2-loop2"]);
  });

  it("both tenants own a container called same-name-loop", async () => {
    expect((await user1(["run", "-d", "--name", "same-name-loop", TEST_IMAGE, ...LOOP])).code).toBe(0);
    expect((await user2(["run", "-d", "--name", "same-name-loop", TEST_IMAGE, ...LOOP])).code).toBe(0);
    expect(names((await user1(["ps", "--format", "{{.Names}}"])).stdout)).toEqual(["same-name-loop"]);
    expect(names((await user2(["ps", "--format", "{{.Names}}"])).stdout)).toEqual(["same-name-loop", "tenant2-loop1", "tenant2-loop2"]);
    const ids = await Promise.all([user1, user2].map(async (user) => (await user(["inspect", "-f", "{{.Id}}", "same-name-loop"])).stdout.trim()));
    expect(ids[0]).not.toBe(ids[1]);
  });

  it("docker-user-3, a member of tenant 2, sees and removes what docker-user-2 made", async () => {
    expect(names((await user3(["ps", "--format", "{{.Names}}"])).stdout)).toEqual(["same-name-loop", "tenant2-loop1", "tenant2-loop2"]);
    expect((await user2(["rm", "-f", "tenant2-loop1"])).stdout.trim()).toBe("tenant2-loop1");
    expect((await user3(["rm", "-f", "tenant2-loop2"])).stdout.trim()).toBe("tenant2-loop2");
    expect(names((await user3(["ps", "--format", "{{.Names}}"])).stdout)).toEqual(["same-name-loop"]);
  });

  it("docker-user-3 attaches to the tenant's running container and reads its output", async () => {
    const attached = await user3(["attach", "--no-stdin", "same-name-loop"], { timeoutMs: 3_500 });
    expect(attached.stdout).toContain("Hello world\nHello world");
  });

  it("tenant 1 cannot attach to or read tenant 2's same-name container's id", async () => {
    const id = (await user2(["inspect", "-f", "{{.Id}}", "same-name-loop"])).stdout.trim();
    const attempt = await user1(["logs", id]);
    expect(attempt.code).not.toBe(0);
    expect(attempt.stderr).toContain(`No such container: ${id}`);
  });
});
