/**
 * A docker host that dies and comes back, as after a power cut and a reboot (`npm run
 * cluster:reboot docker-host-1`: every process of the host killed at once, its /run emptied, its
 * services booted again), serves its tenants again: a tenant's container on an overlay network
 * starts (dockerd 20.10 with --cluster-store refused it with "could not get network sandbox (oper
 * true)" until docker.service's stale-overlay clean-up), reaches the tenant's container on the other
 * node by name again, and containers with the `always` and `unless-stopped` restart policies come
 * back by themselves. The cluster is a local cluster of its own, moved beside any other the way
 * local-cluster.test.ts moves its own.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDocker, type CommandResult, waitFor } from "../../scripts/harness/index.ts";
import { daemonPids } from "../../scripts/local-cluster/health.ts";
import { leftovers } from "../../scripts/local-cluster/leftovers.ts";
import { testCluster } from "../support/local-cluster.ts";

const own = testCluster("rb");
const { layout } = own;
const tenant = join(layout.tenantsDir, "docker-user-1");

function cluster(...args: string[]): Promise<CommandResult> {
  return own.run(args);
}

function expectSuccess(result: CommandResult): string {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

const docker = (...args: string[]) => runDocker("docker28", ["--config", tenant, ...args]);

async function dockerOk(...args: string[]): Promise<string> {
  const result = await docker(...args);
  expect(result.code, `docker ${args.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

/** Every container of the test serves "up" over HTTP on this port (busybox httpd). */
const WEB_PORT = 8080;
const SERVE = ["sh", "-c", `mkdir -p /www && echo up > /www/index.html && exec httpd -f -p ${WEB_PORT} -h /www`];

/**
 * A page fetched by name from one container to another: the overlay network and its name
 * resolution both work (with busybox nc: tenants' containers have no NET_RAW for busybox's ping).
 */
async function reaches(from: string, to: string): Promise<boolean> {
  return (await docker("exec", from, "sh", "-c", `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${to} ${WEB_PORT} | grep -q '^up$'`)).code === 0;
}

async function states(): Promise<Record<string, string>> {
  const lines = (await dockerOk("ps", "-a", "--format", "{{.Names}} {{.State}}")).trim().split("\n");
  return Object.fromEntries(lines.map((line) => line.split(" ") as [string, string]));
}

const allPids: number[] = [];

beforeAll(async () => {
  expectSuccess(await cluster("up"));
  allPids.push(...Object.values(daemonPids(layout)));
}, 200_000);

afterAll(async () => {
  await cluster("down"); // after a failure too; vitest runs it before testDir's own clean-up
});

describe("a docker host restarted as after a reboot", () => {
  it("serves its tenants again: their overlay containers start, reach each other by name, and restart policies hold", async () => {
    await dockerOk("network", "create", "app");
    const onNode = (node: string) => ["-e", `constraint:node==${node}`, "--network", "app", "busybox", ...SERVE];
    await dockerOk("run", "-d", "--name", "web", ...onNode("docker-host-1"));
    await dockerOk("run", "-d", "--name", "always", "--restart", "always", ...onNode("docker-host-1"));
    await dockerOk("run", "-d", "--name", "unless", "--restart", "unless-stopped", ...onNode("docker-host-1"));
    await dockerOk("run", "-d", "--name", "db", ...onNode("docker-host-2"));
    // Containers on the default network too: their records (over 1 kB each) make the store the clean-up rewrites span several pages.
    const plain = ["plain1", "plain2", "plain3", "plain4"];
    for (const name of plain) await dockerOk("run", "-d", "--name", name, "-e", "constraint:node==docker-host-1", "busybox", "sleep", "100000");
    expect(await reaches("db", "web")).toBe(true);

    const before = daemonPids(layout);
    const rebooted = expectSuccess(await cluster("reboot", "docker-host-1"));
    expect(rebooted).toMatch(/docker-host-1: power cut \(SIGKILL to its \d+ processes\)/);
    const after = daemonPids(layout);
    expect(after["docker-host-1.dockerd"]).not.toBe(before["docker-host-1.dockerd"]);
    expect(after["docker-host-1.sshd"]).not.toBe(before["docker-host-1.sshd"]);
    expect(after["docker-host-2.dockerd"]).toBe(before["docker-host-2.dockerd"]);
    allPids.push(...Object.values(after));
    // docker.service's ExecStartPre rewrote the store, and dockerd read all of it: it cleaned up every container's old sandbox.
    const engineLog = readFileSync(join(layout.stateDir, "hosts", "docker-host-1", "dockerd.log"), "utf8");
    expect(engineLog).toMatch(/berth-docker-stale-overlay: removed 3 stale overlay endpoint record\(s\)/);
    expect(engineLog.match(/Removing stale sandbox/g)).toHaveLength(3 + plain.length);

    // Until its next health check the proxy holds the node for down ("unavailable").
    let start: CommandResult | undefined;
    await waitFor(
      async () => {
        start = await docker("start", "web");
        return !/unavailable/.test(start.stderr);
      },
      30_000,
      1_000,
    );
    expect(start!.stderr).not.toMatch(/could not get network sandbox/);
    expect(start!.code, start!.stderr).toBe(0);
    expect(await reaches("db", "web")).toBe(true);
    expect(await reaches("web", "db")).toBe(true);

    expect(
      await waitFor(
        async () => {
          const now = await states();
          return now["docker-host-1/always"] === "running" && now["docker-host-1/unless"] === "running";
        },
        30_000,
        1_000,
      ),
      JSON.stringify(await states()),
    ).toBe(true);
    expect(await reaches("always", "db")).toBe(true);
    expect(await reaches("db", "unless")).toBe(true);
  });

  it("leaves nothing behind when the cluster goes down, the processes of before the reboot included", async () => {
    expectSuccess(await cluster("down"));
    expect(await leftovers(layout, allPids)).toEqual([]);
  });
});
