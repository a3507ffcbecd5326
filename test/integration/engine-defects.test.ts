/**
 * Defects of dockerd 20.10 itself that berth's tests and operators must know about, pinned as
 * tests so that an engine that fixes them is noticed (then the workaround each names can go).
 *
 * The overlay driver's `watchMiss` goroutine locks its OS thread, enters the overlay network's
 * namespace, and when the network's last container on the node leaves it returns with the thread
 * unlocked but still in that namespace (libnetwork drivers/overlay/ov_network.go in 20.10; fixed
 * upstream by moby/moby#44356, released in 23.0). Go then runs other goroutines on that thread:
 * any socket the engine opens there is made in a namespace with no route, so its etcd dials fail
 * with "network is unreachable" (seen as "etcd cluster is unavailable or misconfigured" or as
 * "failed to get network from store during join: network … not found" on a container start, which
 * can leave a stale endpoint behind: "endpoint with name … already exists"), and so do its pulls
 * (moby/moby#39372). It happens on every node of a 20.10 cluster after an overlay is torn down
 * there. The current line (Docker 26, overlays from swarm mode) does not have it, which is pinned
 * beside it. Each engine's line is named, so BERTH_TEST_ENGINE_LINE does not change what is pinned.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, type Etcd, TEST_IMAGE, startEngine, startEtcd } from "../../scripts/harness/index.ts";
import { formSwarm } from "../support/cluster.ts";

let etcd: Etcd;
let classic: Engine;
let current: Engine;

beforeAll(async () => {
  etcd = await startEtcd();
  [classic, current] = await Promise.all([startEngine({ line: "20.10", clusterStore: etcd.clusterStore }), startEngine({ line: "current", tcp: true })]);
  await formSwarm([current]);
}, 120_000);

afterAll(async () => {
  await Promise.all([classic?.stop(), current?.stop()]);
  await etcd?.stop();
});

/** The engine's threads whose network namespace is not the engine's own. */
function threadsElsewhere(engine: Engine): number {
  const pid = readFileSync(join(dirname(engine.socketPath), "dockerd.pid"), "utf8").trim();
  const own = readlinkSync(`/proc/${pid}/ns/net`);
  return readdirSync(`/proc/${pid}/task`).filter((tid) => {
    try {
      return readlinkSync(`/proc/${pid}/task/${tid}/ns/net`) !== own;
    } catch {
      return false; // the thread ended while we looked
    }
  }).length;
}

function ok(result: { code: number; stdout: string; stderr: string }): string {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

/** Makes an overlay on `engine`, runs a container on it, then removes both: the node has no overlay left. */
async function overlayComesAndGoes(engine: Engine, createFlags: string[]): Promise<void> {
  ok(await engine.docker(["network", "create", "-d", "overlay", ...createFlags, "defect-overlay"]));
  ok(await engine.docker(["run", "-d", "--name", "defect-c", "--network", "defect-overlay", TEST_IMAGE, "sleep", "1000"]));
  ok(await engine.docker(["rm", "-f", "defect-c"]));
  ok(await engine.docker(["network", "rm", "defect-overlay"]));
  // Past the goroutine's netlink receive timeout (3 s), with room.
  await new Promise((resolve) => setTimeout(resolve, 6_000));
}

describe("dockerd 20.10 with --cluster-store", () => {
  it("leaves a thread in a dead overlay's namespace once the overlay's last container on the node is gone (moby/moby#44356)", async () => {
    expect(threadsElsewhere(classic)).toBe(0);
    await overlayComesAndGoes(classic, []);
    // No container and no overlay is left on this engine, yet one of its threads is still elsewhere.
    expect(threadsElsewhere(classic)).toBeGreaterThanOrEqual(1);
  });
});

describe("Docker 26 in a swarm (the current line)", () => {
  it("leaves no thread elsewhere after the same overlay comes and goes (attachable, from swarm mode)", async () => {
    expect(threadsElsewhere(current)).toBe(0);
    await overlayComesAndGoes(current, ["--attachable"]);
    expect(threadsElsewhere(current)).toBe(0);
  });
});
