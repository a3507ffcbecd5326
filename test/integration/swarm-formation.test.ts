/**
 * The current line's swarm script (templates/swarm.sh.hbs), rendered as the stack renders it and run
 * from here as from the manager VM, against real Docker 26 engines: a first `pulumi up`, a second one
 * with nothing to do, a rebuilt worker, a rebuilt manager. What it prints is `pulumi up`'s log: the
 * join token must never be in it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, startEngines } from "../../scripts/harness/index.ts";
import { cidrContains, parseCidr } from "../../infra/net.ts";
import { DEFAULT_OVERLAY_ADDRESS_POOL } from "../../infra/render.ts";
import { runSwarmScript } from "../support/cluster.ts";

let manager: Engine;
let worker: Engine;

beforeAll(async () => {
  [manager, worker] = (await startEngines(2, { line: "current", tcp: true })) as [Engine, Engine];
}, 120_000);

afterAll(async () => {
  await Promise.all([manager?.stop(), worker?.stop()]);
});

const swarmNodes = async () => (await manager.api("GET", "/nodes")).body as Array<{ ID: string; Status: { State: string; Addr: string } }>;
const nodeId = async (engine: Engine) => (await engine.api("GET", "/info")).body.Swarm.NodeID as string;
const workerToken = async () => (await manager.api("GET", "/swarm")).body.JoinTokens.Worker as string;

async function formed(): Promise<string> {
  const result = await runSwarmScript([manager, worker]);
  expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0);
  const token = await workerToken();
  expect(token).toMatch(/^SWMTKN-1-/);
  expect(`${result.stdout}${result.stderr}`).not.toContain(token);
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/SWMTKN/);
  return result.stdout;
}

describe("the swarm script against two Docker 26 engines", () => {
  it("first run: the first node makes a swarm, the second joins it as a worker, both ready; the token is not printed", async () => {
    const out = await formed();
    expect(out).toContain(`${manager.name}: a new swarm`);
    expect(out).toContain(`${worker.name}: joined`);
    expect(out).toContain("==> swarm: 2 nodes ready");
    const nodes = await swarmNodes();
    expect(nodes.map((node) => [node.Status.Addr, node.Status.State]).sort()).toEqual(
      [
        [manager.address, "ready"],
        [worker.address, "ready"],
      ].sort(),
    );
    const info = (await worker.api("GET", "/info")).body.Swarm;
    expect([info.LocalNodeState, info.ControlAvailable, info.RemoteManagers[0].Addr]).toEqual(["active", false, `${manager.address}:2377`]);
    // The swarm's overlays come from berth:overlayAddressPool, ingress included, not Docker's 10.0.0.0/8.
    const swarm = (await manager.api("GET", "/swarm")).body;
    expect([swarm.DefaultAddrPool, swarm.SubnetSize]).toEqual([[DEFAULT_OVERLAY_ADDRESS_POOL], 24]);
    const ingress = (await manager.api("GET", "/networks/ingress")).body.IPAM.Config as Array<{ Subnet: string }>;
    const pool = parseCidr(DEFAULT_OVERLAY_ADDRESS_POOL)!;
    expect(ingress.map(({ Subnet }) => [Subnet.endsWith("/24"), cidrContains(pool, Subnet.split("/")[0]!)])).toEqual([[true, true]]);
  });

  it("a second run changes nothing: the same swarm, the same node ids", async () => {
    const before = [await nodeId(manager), await nodeId(worker)];
    const out = await formed();
    expect(out).toContain(`${manager.name}: already its manager`);
    expect(out).toContain(`${worker.name}: already a member`);
    expect(out).not.toMatch(/joined|new swarm|forgot/);
    expect([await nodeId(manager), await nodeId(worker)]).toEqual(before);
  });

  it("a rebuilt worker (an engine outside the swarm) joins again, and its old entry is forgotten", async () => {
    const oldId = await nodeId(worker);
    expect((await worker.docker(["swarm", "leave", "--force"])).code).toBe(0);
    const out = await formed();
    expect(out).toContain(`${worker.name}: joined`);
    expect(out).toContain(`forgot the stale node ${oldId}`);
    const nodes = await swarmNodes();
    expect(nodes.map((node) => node.ID).sort()).toEqual([await nodeId(manager), await nodeId(worker)].sort());
    expect(nodes.every((node) => node.Status.State === "ready")).toBe(true);
  });

  it("a rebuilt manager (its engine outside any swarm) makes a new swarm, and the worker leaves the old one to join it", async () => {
    const oldToken = await workerToken();
    expect((await manager.docker(["swarm", "leave", "--force"])).code).toBe(0);
    const out = await formed();
    expect(out).toContain(`${manager.name}: a new swarm`);
    expect(out).toContain(`${worker.name}: left a swarm that is not this one`);
    expect(out).toContain(`${worker.name}: joined`);
    expect(await workerToken()).not.toBe(oldToken);
    expect((await swarmNodes()).map((node) => node.Status.State)).toEqual(["ready", "ready"]);
  });

  it("refuses a first node that is a worker of another swarm, saying what to do", async () => {
    // The roles swapped: the script's manager is now a worker of the other engine's swarm.
    const swapped = await runSwarmScript([worker, manager]);
    expect(swapped.code).not.toBe(0);
    expect(swapped.stderr).toContain(`${worker.name} is in a swarm it does not manage: berth makes it its swarm's manager; leave that swarm first`);
    // Nothing was changed: the swarm is as it was.
    expect((await worker.api("GET", "/info")).body.Swarm.ControlAvailable).toBe(false);
  });
});
