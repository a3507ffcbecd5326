/**
 * Cluster mode on real parts: three dockerd engines in their own namespaces joined through a real
 * etcd for overlay networks, volumes kept in the directory a real nfs-ganesha exports, and the
 * proxy in front with a nodes file, driven by the docker CLI. Scheduling, routing, node-qualified
 * lists, cross-node overlay traffic and volumes, image pulls where needed, and nodes that stop
 * answering; each placement is checked on the engines directly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_IMAGE, sharedRegistry } from "../../scripts/harness/index.ts";
import { type TestCluster, fetchedAcrossNodes, startTestCluster } from "../support/cluster.ts";
import { type TestProxy, asUser, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("cluster-test");
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const bob = tenantUser("bob", "tenant-b", "token-tenant-b");
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file("tokens.json", [
    { token: alice.token, user: "alice", tenant: alice.tenant },
    { token: bob.token, user: "bob", tenant: bob.tenant },
  ]),
  SWARM_FLAVORS_ENFORCED: "true",
  // "huge" reserves more than half of a node's memory: one per node.
  SWARM_FLAVORS_FILE: dir.file("flavors.json", { default: { Memory: 64 }, huge: { Memory: 14000 } }),
  // The VMs' network on Neutron VXLAN (issue 10): the overlay must fit inside it.
  BERTH_NETWORK_MTU: "1450",
};

let cluster: TestCluster;
let proxy: TestProxy;
let a: ReturnType<typeof asUser>;
let b: ReturnType<typeof asUser>;

/** The node (engine name) a tenant's container runs on, asked of the (answering) engines directly. */
async function nodeOf(tenant: string, name: string, among = cluster.engines): Promise<string | undefined> {
  return (await cluster.engineOf(`${tenant}_${name}`, among))?.name;
}

function ok(result: { code: number; stdout: string; stderr: string }): string {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  cluster = await startTestCluster([[], ["storage=ssd"], []]);
  // The run's registry sits at a private address: the operator lists it for tenants.
  proxy = await cluster.startProxy({ ...env, BERTH_TENANT_REGISTRIES: sharedRegistry().address });
  a = asUser(proxy, alice);
  b = asUser(proxy, bob, "docker20");
}, 240_000);

afterAll(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

describe("scheduling", () => {
  it("spreads a tenant's containers over the nodes and lists them as node/name", async () => {
    for (let i = 1; i <= 6; i++) ok(await a(["run", "-d", "--name", `spread-${i}`, TEST_IMAGE, "sleep", "1000"]));
    const nodes = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => nodeOf("tenant-a", `spread-${i}`)));
    for (const engine of cluster.engines) expect(nodes.filter((n) => n === engine.name)).toHaveLength(2);
    const listed = ok(await a(["ps", "--format", "{{.Names}}"]))
      .trim()
      .split("\n")
      .sort();
    expect(listed).toEqual([1, 2, 3, 4, 5, 6].map((i) => `${nodes[i - 1]}/spread-${i}`).sort());
    expect(ok(await b(["ps", "-aq"]))).toBe("");
  });

  it("honours node and label constraints, affinities, negations and soft rules", async () => {
    ok(await a(["run", "-d", "--name", "pinned", "-e", "constraint:node==docker-host-3", TEST_IMAGE, "sleep", "1000"]));
    expect(await nodeOf("tenant-a", "pinned")).toBe("docker-host-3");
    ok(await a(["run", "-d", "--name", "fast", "-e", "constraint:storage==ssd", TEST_IMAGE, "sleep", "1000"]));
    expect(await nodeOf("tenant-a", "fast")).toBe("docker-host-2");
    ok(await a(["run", "-d", "--name", "buddy", "-e", "affinity:container==pinned", TEST_IMAGE, "sleep", "1000"]));
    expect(await nodeOf("tenant-a", "buddy")).toBe("docker-host-3");
    // One rule per key: the docker CLI keeps only the last `-e constraint:node!=...` (it reads them as KEY=VALUE).
    ok(await a(["run", "-d", "--name", "elsewhere", "-e", "constraint:node!=/docker-host-[12]/", TEST_IMAGE, "sleep", "1000"]));
    expect(await nodeOf("tenant-a", "elsewhere")).toBe("docker-host-3");
    ok(await a(["run", "-d", "--name", "hopeful", "-e", "constraint:storage==~nvme", TEST_IMAGE, "sleep", "1000"]));
    expect(await nodeOf("tenant-a", "hopeful")).toBeDefined();
    const impossible = await a(["run", "-d", "-e", "constraint:storage==tape", TEST_IMAGE, "true"]);
    expect(impossible.stderr).toContain("no node can take this container: no node satisfies constraint:storage==tape");
    // Another tenant's container is not something to be near.
    const foreign = await b(["run", "-d", "-e", "affinity:container==pinned", TEST_IMAGE, "true"]);
    expect(foreign.stderr).toContain("no node satisfies affinity:container==pinned");
  });

  it("never puts a fixed host port where it is taken", async () => {
    const nodes: (string | undefined)[] = [];
    for (let i = 1; i <= 3; i++) {
      ok(await a(["run", "-d", "--name", `port-${i}`, "-p", "40000:80", TEST_IMAGE, "sleep", "1000"]));
      nodes.push(await nodeOf("tenant-a", `port-${i}`));
    }
    expect(new Set(nodes).size).toBe(3);
    const fourth = await b(["run", "-d", "-p", "40000:80", TEST_IMAGE, "sleep", "1000"]);
    expect(fourth.stderr).toContain("host port 40000/tcp is taken");
    const ports = ok(await a(["ps", "--filter", "name=port-1", "--format", "{{.Ports}}"]));
    const address = cluster.engines.find((engine) => engine.name === nodes[0])!.address;
    expect(ports.trim()).toBe(`${address}:40000->80/tcp`);
  });

  it("reserves the flavor's memory: a node without room is skipped", async () => {
    const placed: (string | undefined)[] = [];
    for (let i = 1; i <= 3; i++) {
      ok(await b(["create", "--name", `big-${i}`, "-m", "14000m", TEST_IMAGE, "true"]));
      placed.push(await nodeOf("tenant-b", `big-${i}`));
    }
    expect(new Set(placed).size).toBe(3);
    const fourth = await b(["create", "--name", "big-4", "-m", "14000m", TEST_IMAGE, "true"]);
    expect(fourth.stderr).toContain("no node has 14000 MB of memory free");
    ok(await b(["rm", "big-1", "big-2", "big-3"]));
  });

  it("pulls the image on the chosen node when it is missing there", async () => {
    const image = `${sharedRegistry().address}/berth-test/busybox:other`;
    const before = await Promise.all(cluster.engines.map(async (engine) => (await engine.api("GET", `/images/${image}/json`)).status));
    expect(before).toEqual([404, 404, 404]);
    ok(await a(["run", "--rm", "-e", "constraint:node==docker-host-2", image, "true"]));
    const after = await Promise.all(cluster.engines.map(async (engine) => (await engine.api("GET", `/images/${image}/json`)).status));
    expect(after).toEqual([404, 200, 404]);
    const pulled = ok(await a(["pull", image]));
    expect(pulled).toContain("docker-host-1");
    const everywhere = await Promise.all(cluster.engines.map(async (engine) => (await engine.api("GET", `/images/${image}/json`)).status));
    expect(everywhere).toEqual([200, 200, 200]);
  });

  it("routes every later call to the container's node, and inspect says which", async () => {
    expect(ok(await a(["exec", "pinned", "hostname"])).trim()).toMatch(/^[0-9a-f]{12}$/);
    expect(ok(await a(["inspect", "-f", "{{.Name}} {{.Node.Name}} {{.Node.IP}}", "pinned"])).trim()).toBe(
      `/pinned docker-host-3 ${cluster.engines[2]!.address}`,
    );
    ok(await a(["stop", "-t", "0", "pinned"]));
    ok(await a(["start", "pinned"]));
    ok(await a(["rename", "pinned", "pinned2"]));
    expect(ok(await a(["logs", "pinned2"]))).toBe("");
    expect(ok(await a(["info", "-f", "{{.Containers}} {{len .SystemStatus}}"])).trim()).toMatch(/^\d+ \d+$/);
  });

  it("keeps names unique across the nodes", async () => {
    const twice = await a(["run", "-d", "--name", "spread-1", "-e", "constraint:node!=docker-host-1", TEST_IMAGE, "true"]);
    expect(twice.stderr).toContain('The container name "/spread-1" is already in use');
  });
});

describe("overlay networks across nodes", () => {
  it("let a tenant's containers on different nodes talk by name, and keep other tenants out", async () => {
    ok(await a(["network", "create", "backbone"]));
    expect(ok(await a(["network", "inspect", "-f", "{{.Driver}} {{.Scope}}", "backbone"])).trim()).toBe("overlay global");
    expect(await fetchedAcrossNodes(a, "backbone", ["docker-host-1", "docker-host-2"])).toBe("hello-from-server\nfetched\n");
    const members = ok(await a(["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "backbone"]));
    expect(members.trim().split(" ").sort()).toEqual(["client", "server"]);
    ok(await a(["rm", "-f", "client"]));

    const joined = await b(["run", "--rm", "--network", "backbone", TEST_IMAGE, "true"]);
    expect(joined.code).not.toBe(0);
    const id = ok(await a(["network", "inspect", "-f", "{{.Id}}", "backbone"])).trim();
    const connect = await b(["network", "connect", id, "some"]);
    expect(connect.stderr).toMatch(/not found|No such container/);
    const fromBridge = await b(["run", "--rm", "-e", "constraint:node==docker-host-1", TEST_IMAGE, "nc", "-w", "3", "server", "8080"]);
    expect(fromBridge.stdout).toBe("");
  });
});

describe("network MTU", () => {
  // issue 10: Neutron's tenant networks are 1450 (VXLAN) or 1442 (Geneve); libnetwork's overlay
  // driver defaults to 1450 (1500 less VXLAN) and ignores dockerd's --mtu, so packets over the VMs'
  // MTU were lost and large transfers hung. The proxy sets com.docker.network.driver.mtu, which the
  // overlay driver reads as the underlay's MTU and subtracts VXLAN's 50 bytes from.
  it("gives a tenant's overlay network the hosts' MTU less VXLAN's 50 bytes, seen inside the container", async () => {
    ok(await a(["network", "create", "mtu-fit"]));
    // Set on the engine's network, hidden from the tenant (docker-compose would see a changed network).
    expect((await cluster.engines[0]!.api("GET", "/networks/tenant-a_mtu-fit")).body.Options).toEqual({ "com.docker.network.driver.mtu": "1450" });
    expect(ok(await a(["network", "inspect", "-f", "{{json .Options}}", "mtu-fit"])).trim()).toBe("{}");
    expect(ok(await a(["run", "--rm", "--network", "mtu-fit", TEST_IMAGE, "cat", "/sys/class/net/eth0/mtu"])).trim()).toBe("1400");
    ok(await a(["network", "rm", "mtu-fit"]));
  });
});

describe("volumes on the NFS export", () => {
  it("carry a tenant's data from a container on one node to one on another, and nowhere else", async () => {
    ok(await a(["volume", "create", "shared"]));
    ok(await a(["run", "--rm", "-v", "shared:/data", "-e", "constraint:node==docker-host-1", TEST_IMAGE, "sh", "-c", "echo written-on-host-1 > /data/note"]));
    expect(ok(await a(["run", "--rm", "-v", "shared:/data", "-e", "constraint:node==docker-host-3", TEST_IMAGE, "cat", "/data/note"]))).toBe(
      "written-on-host-1\n",
    );
    expect((await cluster.nfs.cat("tenant-a/shared/note")).stdout).toBe("written-on-host-1\n");
    expect(
      ok(await b(["run", "--rm", "-v", "shared:/data", "-e", "constraint:node==docker-host-3", TEST_IMAGE, "sh", "-c", "cat /data/note || echo nothing"])),
    ).toBe("nothing\n");
    expect(ok(await a(["volume", "ls", "--format", "{{.Name}}"])).trim()).toBe("shared");
    ok(await a(["volume", "rm", "shared"]));
    expect((await cluster.nfs.cat("tenant-a/shared/note")).code).not.toBe(0);
  });

  it("take their data with them when removed, also one created by a run on one node", async () => {
    ok(await a(["run", "--rm", "-v", "implicit:/data", "-e", "constraint:node==docker-host-1", TEST_IMAGE, "sh", "-c", "echo implicit-data > /data/note"]));
    expect((await cluster.nfs.cat("tenant-a/implicit/note")).stdout).toBe("implicit-data\n");
    ok(await a(["volume", "rm", "implicit"]));
    expect((await cluster.nfs.cat("tenant-a/implicit/note")).code).not.toBe(0);
    const again = ok(
      await a([
        "run",
        "--rm",
        "-v",
        "implicit:/data",
        "-e",
        "constraint:node==docker-host-2",
        TEST_IMAGE,
        "sh",
        "-c",
        "cat /data/note 2>/dev/null || echo empty",
      ]),
    );
    expect(again).toBe("empty\n");
    ok(await a(["volume", "rm", "implicit"]));
  });
});

describe("a tenant's own bridge on each node", () => {
  const engine = (name: string) => cluster.engines.find((e) => e.name === name)!;
  const networksOf = async (node: string, engineName: string) =>
    Object.keys((await engine(node).api("GET", `/containers/${engineName}/json`)).body.NetworkSettings.Networks);

  it("keeps two tenants' containers on one node apart, and lists as node/bridge", async () => {
    ok(await a(["run", "-d", "--name", "l2-a", "-e", "constraint:node==docker-host-1", TEST_IMAGE, "sleep", "1000"]));
    ok(await b(["run", "-d", "--name", "l2-b", "-e", "constraint:node==docker-host-1", TEST_IMAGE, "sleep", "1000"]));
    expect(await networksOf("docker-host-1", "tenant-a_l2-a")).toEqual(["tenant-a_bridge"]);
    expect(await networksOf("docker-host-1", "tenant-b_l2-b")).toEqual(["tenant-b_bridge"]);
    const bridges = await Promise.all(
      ["tenant-a_bridge", "tenant-b_bridge"].map(async (name) => (await engine("docker-host-1").api("GET", `/networks/${name}`)).body),
    );
    expect(bridges.map((n) => n.Scope)).toEqual(["local", "local"]);
    expect(bridges[0].Id).not.toBe(bridges[1].Id);
    // Both tenants have had containers on every node by now (spread, flavors): one bridge on each.
    expect(
      ok(await a(["network", "ls", "--format", "{{.Name}}", "--filter", "name=bridge"]))
        .trim()
        .split("\n"),
    ).toEqual(["docker-host-1/bridge", "docker-host-2/bridge", "docker-host-3/bridge"]);
    expect(ok(await a(["network", "inspect", "-f", "{{.Id}}", "docker-host-1/bridge"])).trim()).toBe(bridges[0].Id);
    expect(ok(await b(["network", "inspect", "-f", "{{.Id}}", "docker-host-1/bridge"])).trim()).toBe(bridges[1].Id);
    expect((await a(["network", "inspect", "bridge"])).stderr).toContain(
      "bridge is on docker-host-1 and docker-host-2 and docker-host-3: name the node, e.g. docker-host-1/bridge",
    );
  });

  it("is made on the container's node when a container elsewhere connects to `bridge`, and left there", async () => {
    ok(await b(["network", "rm", "docker-host-3/bridge"]));
    ok(await b(["network", "create", "b-overlay"]));
    ok(await b(["run", "-d", "--name", "l2-c", "--network", "b-overlay", "-e", "constraint:node==docker-host-3", TEST_IMAGE, "sleep", "1000"]));
    expect((await engine("docker-host-3").api("GET", "/networks/tenant-b_bridge")).status).toBe(404);
    ok(await b(["network", "connect", "bridge", "l2-c"]));
    expect((await networksOf("docker-host-3", "tenant-b_l2-c")).sort()).toEqual(["tenant-b_b-overlay", "tenant-b_bridge"]);
    // b has a bridge on every node again: a plain `bridge` here is the one on the container's node.
    ok(await b(["network", "disconnect", "bridge", "l2-c"]));
    expect(await networksOf("docker-host-3", "tenant-b_l2-c")).toEqual(["tenant-b_b-overlay"]);
    ok(await b(["rm", "-f", "l2-b", "l2-c"]));
    ok(await b(["network", "rm", "b-overlay", "docker-host-3/bridge"]));
    ok(await a(["rm", "-f", "l2-a"]));
  });
});

describe("a node that stops answering", () => {
  it("shows its containers as Host Down in lists (which say so), gets no new containers, and comes back by itself", async () => {
    const host3 = cluster.engines[2]!;
    host3.pause();
    try {
      const listed = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/json`, {
        headers: { "x-auth-token": alice.token, "x-auth-tenantid": alice.tenant },
      });
      expect(listed.status).toBe(200);
      expect(listed.headers.get("x-berth-unavailable-nodes")).toBe("docker-host-3");
      const containers = (await listed.json()) as { Names: string[]; Status: string }[];
      const lastSeen = containers.filter((c) => c.Names[0]!.startsWith("/docker-host-3/"));
      expect(lastSeen.map((c) => c.Names[0])).toContain("/docker-host-3/elsewhere");
      expect(new Set(lastSeen.map((c) => c.Status))).toEqual(new Set(["Host Down"]));
      expect(containers.length).toBeGreaterThan(lastSeen.length);
      for (let i = 0; i < 3; i++) {
        ok(await a(["run", "-d", "--name", `while-down-${i}`, TEST_IMAGE, "sleep", "1000"]));
        expect(await nodeOf("tenant-a", `while-down-${i}`, cluster.engines.slice(0, 2))).toMatch(/^docker-host-[12]$/);
      }
      const onDownNode = await a(["logs", "elsewhere"], { timeoutMs: 20_000 });
      expect(onDownNode.code).not.toBe(0);
      expect(onDownNode.stderr).toMatch(/docker-host-3, which is unavailable|unavailable: docker-host-3/);
    } finally {
      host3.resume();
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(ok(await a(["logs", "elsewhere"]))).toBe("");
    const listed = ok(await a(["ps", "--format", "{{.Names}}"]));
    expect(listed).toContain("docker-host-3/elsewhere");
  });
});

describe("a node that is killed", () => {
  it("leaves the service up: lists answer without it, creates go elsewhere, its containers fail clearly", async () => {
    const victimNode = cluster.engines[2]!;
    ok(await a(["run", "-d", "--name", "doomed", "-e", "constraint:node==docker-host-3", TEST_IMAGE, "sleep", "1000"]));
    await victimNode.stop();
    const listed = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/json`, {
      headers: { "x-auth-token": alice.token, "x-auth-tenantid": alice.tenant },
    });
    expect(listed.status).toBe(200);
    expect(listed.headers.get("x-berth-unavailable-nodes")).toBe("docker-host-3");
    ok(await a(["run", "-d", "--name", "survivor", TEST_IMAGE, "sleep", "1000"]));
    expect(await nodeOf("tenant-a", "survivor", cluster.engines.slice(0, 2))).toMatch(/^docker-host-[12]$/);
    const gone = await a(["logs", "doomed"]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/doomed is on docker-host-3, which is unavailable|unavailable: docker-host-3/);
    expect(ok(await a(["info", "-f", "{{json .SystemStatus}}"]))).toContain("Unhealthy");
  });
});
