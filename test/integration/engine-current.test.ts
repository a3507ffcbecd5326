/**
 * The current engine line (issue 14): Debian 13's Docker 26, run from the harness's trixie root,
 * without `--cluster-store`. What berth's next steps stand on is proven here on real engines: two
 * nodes form a swarm, an `--attachable` overlay made on the manager carries plain containers (not
 * services) between them by address and by name, a worker cannot make one, and the proxy in front
 * of Docker 26 speaks API 1.41 as it does in front of 20.10. What this kernel lacks for swarm mode is
 * asserted from its own configuration, so the tests say which way they should go on another kernel:
 * no ESP (`CONFIG_INET_ESP`), so an encrypted overlay carries nothing; no IPVS (`CONFIG_IP_VS`), so a
 * service's virtual IP does not answer (berth schedules plain containers, so it needs neither VIPs
 * nor services; tenants never reach swarm objects).
 */
import { existsSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, startEngines } from "../../scripts/harness/index.ts";
import { formSwarm } from "../support/cluster.ts";
import { type TestProxy, asUser, startTestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("engine-current");
const alpha = tenantUser("alpha", "alpha", "token-alpha-current");
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file("tokens.json", [{ token: alpha.token, user: alpha.name, tenant: alpha.tenant }]),
};

let manager: Engine;
let worker: Engine;
let proxy: TestProxy;

const ok = (result: { code: number; stdout: string; stderr: string }): string => {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
};

/** Whether this kernel was built with an option, built in or as a module (its own /proc/config.gz). */
const kernelHas = (option: string): boolean => new RegExp(`^${option}=[ym]$`, "m").test(gunzipSync(readFileSync("/proc/config.gz")).toString());

/** Pings `name` twice from a throwaway container on `network` on `engine`: exit 0 when it answered. */
async function answersPing(engine: Engine, network: string, name: string): Promise<boolean> {
  const ping = await engine.docker(["run", "--rm", "--network", network, TEST_IMAGE, "ping", "-c", "2", "-W", "3", name]);
  return ping.code === 0;
}

beforeAll(async () => {
  [manager, worker] = (await startEngines(2, { line: "current", tcp: true })) as [Engine, Engine];
  await formSwarm([manager, worker]);
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([manager?.stop(), worker?.stop()]);
});

describe("Debian 13's engine, from the harness's trixie root", () => {
  it("is Docker 26 speaking API 1.45, with no cluster store", async () => {
    const version = await manager.api("GET", "/version");
    expect(version.body.Version).toMatch(/^26\./);
    expect(version.body.ApiVersion).toBe("1.45");
    const info = await manager.api("GET", "/info");
    expect(info.body.ClusterStore).toBeUndefined();
  });

  it("runs an exec in the container's own root, never the host's", async () => {
    // A chrooted dockerd let runc keep the host's `/` as the container namespace's root, and an
    // exec (which joins that namespace) wrote there: diff and cp in saw nothing of it.
    const marker = `/berth-exec-${manager.name}`;
    ok(await manager.docker(["run", "-d", "--name", "rooted", TEST_IMAGE, "sleep", "600"]));
    ok(await manager.docker(["exec", "rooted", "sh", "-c", `echo inside > ${marker}`]));
    expect(existsSync(marker)).toBe(false);
    expect(ok(await manager.docker(["diff", "rooted"])).split("\n")).toContain(`A ${marker}`);
    ok(await manager.docker(["cp", dir.file("copied-in", "copied\n"), "rooted:/copied-in"]));
    expect(ok(await manager.docker(["exec", "rooted", "cat", "/copied-in"]))).toBe("copied");
    ok(await manager.docker(["rm", "-f", "rooted"]));
  });

  it("forms a swarm of both nodes, one manager", async () => {
    const nodes = ok(await manager.docker(["node", "ls", "--format", "{{.Hostname}}:{{.Status}}:{{.ManagerStatus}}"]))
      .split("\n")
      .sort();
    expect(nodes).toEqual([`${manager.name}:Ready:Leader`, `${worker.name}:Ready:`].sort());
  });
});

describe("an attachable overlay", () => {
  it("is made on a manager only", async () => {
    const fromWorker = await worker.docker(["network", "create", "-d", "overlay", "--attachable", "from-worker"]);
    expect(fromWorker.code).not.toBe(0);
    expect(fromWorker.stderr).toContain("This node is not a swarm manager");
    ok(await manager.docker(["network", "create", "-d", "overlay", "--attachable", "plain"]));
  });

  it("carries plain containers between the nodes, by address and by name", async () => {
    ok(await manager.docker(["run", "-d", "--name", "on-manager", "--network", "plain", TEST_IMAGE, "sleep", "600"]));
    const address = ok(await manager.docker(["inspect", "-f", "{{.NetworkSettings.Networks.plain.IPAddress}}", "on-manager"]));
    expect(await answersPing(worker, "plain", address)).toBe(true);
    expect(await answersPing(worker, "plain", "on-manager")).toBe(true);
  });

  it("encrypted carries traffic only where the kernel has ESP", async () => {
    ok(await manager.docker(["network", "create", "-d", "overlay", "--attachable", "--opt", "encrypted", "sealed"]));
    ok(await manager.docker(["run", "-d", "--name", "sealed-peer", "--network", "sealed", TEST_IMAGE, "sleep", "600"]));
    expect(await answersPing(worker, "sealed", "sealed-peer")).toBe(kernelHas("CONFIG_INET_ESP"));
  });

  it("gives a service's virtual IP an answer only where the kernel has IPVS", async () => {
    ok(await manager.docker(["service", "create", "--detach", "--name", "vip", "--network", "plain", TEST_IMAGE, "sleep", "600"], { timeoutMs: 60_000 }));
    let running = "";
    for (let attempt = 0; attempt < 60 && !running.includes("Running"); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      running = ok(await manager.docker(["service", "ps", "--format", "{{.CurrentState}}", "vip"]));
    }
    expect(running).toContain("Running");
    // The name resolves to the virtual IP either way; IPVS is what forwards it to the task.
    expect(await answersPing(worker, "plain", "vip")).toBe(kernelHas("CONFIG_IP_VS"));
  });
});

describe("the proxy in front of Docker 26", () => {
  beforeAll(async () => {
    proxy = await startTestProxy(manager, env);
  });

  it("offers API 1.41, and the stock CLI runs a container through it", async () => {
    const asAlpha = asUser(proxy, alpha);
    expect(ok(await asAlpha(["version", "-f", "{{.Server.APIVersion}} {{.Server.Version}}"]))).toMatch(/^1\.41 26\./);
    expect(ok(await asAlpha(["run", "--rm", "--name", "hello", TEST_IMAGE, "echo", "hello from 26"]))).toBe("hello from 26");
    expect(ok(await asAlpha(["ps", "-a", "--format", "{{.Names}}"]))).toBe("");
  });
});
