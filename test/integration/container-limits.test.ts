/**
 * Fair sharing of an engine: what one tenant's container may take from the host that every tenant
 * shares. Through the proxy, with the stock docker CLI, against a real dockerd 20.10: the PIDs limit
 * every container gets (read back from the container's own pids cgroup), healthcheck intervals,
 * tmpfs and /dev/shm sizes as the kernel applies them, ulimits, the cgroup namespace, and published
 * ports (counted per container; no docker-proxy process per port on engines run with the rendered
 * DOCKER_OPTS).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CONTAINER_ADDRESS_POOL, renderDockerDefaults } from "../../infra/render.ts";
import { type Engine, TEST_IMAGE, runCommand, startEngine, waitFor } from "../../scripts/harness/index.ts";
import { parseEnvironmentFile, execStartWords } from "../../infra/environment-file.ts";
import { type TestProxy, asUser, startTestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("fair-sharing");
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file("tokens.json", [{ token: alice.token, user: "alice", tenant: "tenant-a" }]),
};

let engine: Engine;
let proxy: TestProxy;
let a: ReturnType<typeof asUser>;

beforeAll(async () => {
  engine = await startEngine();
  proxy = await startTestProxy(engine, env);
  a = asUser(proxy, alice);
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

/** The engine's own view of a tenant's container (by its tenant name). */
async function engineInspect(name: string): Promise<any> {
  const inspected = await engine.api("GET", `/containers/tenant-a_${name}/json`);
  expect(inspected.status, JSON.stringify(inspected.body)).toBe(200);
  return inspected.body;
}

/** A running container's pids.max, read from the pids cgroup its init process is in. */
async function pidsMax(name: string): Promise<string> {
  const pid = (await engineInspect(name)).State.Pid as number;
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => /^\d+:pids:/.test(l))!;
  return readFileSync(join("/sys/fs/cgroup/pids", line.split(":")[2]!, "pids.max"), "utf8").trim();
}

async function refused(args: string[], message: string | RegExp): Promise<void> {
  const result = await a(args);
  expect(result.code, result.stdout).not.toBe(0);
  expect(result.stderr).toMatch(message);
}

describe("PIDs", () => {
  it("every container gets the default limit when it asks for none", async () => {
    expect((await a(["run", "-d", "--name", "pids-default", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
    expect((await engineInspect("pids-default")).HostConfig.PidsLimit).toBe(1024);
    expect(await pidsMax("pids-default")).toBe("1024");
  });

  it("a limit up to the maximum is kept, on create and on update", async () => {
    expect((await a(["run", "-d", "--name", "pids-own", "--pids-limit", "200", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
    expect(await pidsMax("pids-own")).toBe("200");
    expect((await a(["update", "--pids-limit", "300", "pids-own"])).code).toBe(0);
    expect(await pidsMax("pids-own")).toBe("300");
  });

  it("unlimited and over the maximum are refused, on create and on update", async () => {
    await refused(["create", "--pids-limit", "-1", TEST_IMAGE, "true"], /HostConfig\.PidsLimit: an unlimited PIDs limit is not allowed/);
    await refused(["create", "--pids-limit", "100000", TEST_IMAGE, "true"], /HostConfig\.PidsLimit: 100000 is over the limit of 4096/);
    await refused(["update", "--pids-limit", "-1", "pids-default"], /PidsLimit: an unlimited PIDs limit is not allowed/);
    await refused(["update", "--pids-limit", "100000", "pids-default"], /PidsLimit: 100000 is over the limit of 4096/);
    expect(await pidsMax("pids-default")).toBe("1024");
  });
});

describe("healthchecks", () => {
  it("intervals, timeouts and start periods under the minimum are refused", async () => {
    await refused(
      ["create", "--health-cmd", "true", "--health-interval", "1ms", TEST_IMAGE, "true"],
      /Healthcheck\.Interval: 1ms is shorter than the minimum of 1s/,
    );
    await refused(["create", "--health-cmd", "true", "--health-timeout", "10ms", TEST_IMAGE, "true"], /Healthcheck\.Timeout/);
    await refused(["create", "--health-cmd", "true", "--health-start-period", "500ms", TEST_IMAGE, "true"], /Healthcheck\.StartPeriod/);
    expect((await a(["create", "--name", "health-ok", "--health-cmd", "true", "--health-interval", "2s", TEST_IMAGE, "true"])).code).toBe(0);
    expect((await engineInspect("health-ok")).Config.Healthcheck.Interval).toBe(2e9);
  });

  it("an image's own interval under the minimum is raised to it", async () => {
    const image = "berth-test/eager-health:latest";
    expect((await engine.docker(["create", "--name", "eager-base", TEST_IMAGE, "true"])).code).toBe(0);
    expect((await engine.docker(["commit", "--change", "HEALTHCHECK --interval=1ms --timeout=1ms CMD true", "eager-base", image])).code).toBe(0);
    expect((await a(["create", "--name", "eager", image])).code).toBe(0);
    const healthcheck = (await engineInspect("eager")).Config.Healthcheck;
    expect(healthcheck.Interval).toBe(1e9);
    expect(healthcheck.Timeout).toBe(1e9);
  });
});

describe("tmpfs and /dev/shm", () => {
  it("the last size the engine would apply is the one checked", async () => {
    await refused(["create", "--tmpfs", "/t:size=1m,size=1g", TEST_IMAGE, "true"], /HostConfig\.Tmpfs\["\/t"\]: .* over the limit of 64 MB/);
    await refused(["create", "--tmpfs", "/t:size=1m,nr_blocks=262144", TEST_IMAGE, "true"], /over the limit of 64 MB/);
    await refused(["create", "--tmpfs", "/t:size=50%", TEST_IMAGE, "true"], /HostConfig\.Tmpfs\["\/t"\]: cannot read the tmpfs size/);
    await refused(["create", "--tmpfs", "/t:size=0", TEST_IMAGE, "true"], /unlimited/);
    await refused(["create", "--tmpfs", "/t:bind", TEST_IMAGE, "true"], /tmpfs option "bind"/);
    const df = await a(["run", "--rm", "--tmpfs", "/t:size=1g,size=8m", TEST_IMAGE, "sh", "-c", "df -k /t | tail -1"]);
    expect(df.stdout, df.stderr).toMatch(new RegExp(`tmpfs\\s+${8 * 1024}\\s`));
  });

  it("a container's tmpfs mounts together stay under the limit", async () => {
    await refused(["create", "--tmpfs", "/a:size=40m", "--tmpfs", "/b:size=40m", TEST_IMAGE, "true"], /tmpfs mounts add up to 80 MB, over the limit of 64 MB/);
    await refused(["create", "--tmpfs", "/a:size=40m", "--mount", "type=tmpfs,dst=/b,tmpfs-size=41943040", TEST_IMAGE, "true"], /over the limit of 64 MB/);
    const df = await a(["run", "--rm", "--tmpfs", "/a", "--tmpfs", "/b", TEST_IMAGE, "sh", "-c", "df -k /a /b | tail -2"]);
    expect(df.stdout.match(new RegExp(`tmpfs\\s+${32 * 1024}\\s`, "g")), df.stdout + df.stderr).toHaveLength(2);
  });

  it("/dev/shm is capped", async () => {
    await refused(["create", "--shm-size", "1g", TEST_IMAGE, "true"], /HostConfig\.ShmSize: a \/dev\/shm of 1024 MB is over the limit of 64 MB/);
    const df = await a(["run", "--rm", "--shm-size", "16m", TEST_IMAGE, "sh", "-c", "df -k /dev/shm | tail -1"]);
    expect(df.stdout, df.stderr).toMatch(new RegExp(`shm\\s+${16 * 1024}\\s`));
  });
});

describe("ulimits", () => {
  it("only listed names, up to the operator's maximum", async () => {
    await refused(["create", "--ulimit", "rtprio=99", TEST_IMAGE, "true"], /HostConfig\.Ulimits: the rtprio limit cannot be set here/);
    await refused(["create", "--ulimit", "nofile=2000000", TEST_IMAGE, "true"], /HostConfig\.Ulimits: nofile 2000000 is over the limit of 1048576/);
    await refused(["create", "--ulimit", "core=-1", TEST_IMAGE, "true"], /core unlimited is over the limit of 0/);
    const ulimit = await a(["run", "--rm", "--ulimit", "nofile=1024:2048", TEST_IMAGE, "sh", "-c", "ulimit -Sn; ulimit -Hn"]);
    expect(ulimit.stdout.trim().split("\n"), ulimit.stderr).toEqual(["1024", "2048"]);
  });
});

describe("the cgroup namespace", () => {
  it("is the container's own: it does not see the host's cgroup paths", async () => {
    const cgroups = await a(["run", "--rm", TEST_IMAGE, "cat", "/proc/self/cgroup"]);
    expect(cgroups.code, cgroups.stderr).toBe(0);
    expect(
      cgroups.stdout
        .trim()
        .split("\n")
        .every((line) => line.endsWith(":/")),
      cgroups.stdout,
    ).toBe(true);
    await refused(["create", "--cgroupns", "host", TEST_IMAGE, "true"], /CgroupnsMode/);
  });
});

describe("networks", () => {
  // Each network takes a /24 from a pool every tenant draws on (a node's bridge pool, the overlay
  // pool of the cluster store): without a limit one tenant could take them all.
  it("a tenant makes at most the tenant's limit of networks, its own bridge not counted", async () => {
    const limited = await startTestProxy(engine, { ...env, BERTH_NETWORKS_TENANT_MAX: "2" });
    try {
      const t = asUser(limited, alice);
      expect((await t(["run", "--rm", TEST_IMAGE, "true"])).code).toBe(0); // the tenant's own bridge
      expect((await t(["network", "create", "net-1"])).code).toBe(0);
      expect((await t(["network", "create", "net-2"])).code).toBe(0);
      const over = await t(["network", "create", "net-3"]);
      expect(over.stderr).toContain("network limit exceeded: limit 2 a tenant, in use 2, requested 1");
      expect((await engine.api("GET", "/networks/tenant-a_net-3")).status).toBe(404);
      expect((await t(["network", "rm", "net-1"])).code).toBe(0);
      expect((await t(["network", "create", "net-3"])).code).toBe(0);
    } finally {
      await limited.stop();
    }
  });
});

describe("labels and commands, which every list answer copies", () => {
  // Measured: 40 containers with 1 MB of labels each made 8 concurrent `docker ps -a` cost the
  // proxy 600-740 MB of memory and 7 s; a tenant's 128 calls would take the proxy down for everyone.
  it("are refused over the limit, for containers, volumes and networks", async () => {
    const big = "x".repeat(70_000);
    await refused(["create", "--label", `big=${big}`, TEST_IMAGE, "true"], /Labels: \d+ bytes is over the limit of 65536 bytes/);
    await refused(["create", TEST_IMAGE, "echo", big], /Cmd and Entrypoint: \d+ bytes is over the limit of 65536 bytes/);
    await refused(["volume", "create", "--label", `big=${big}`, "big-labels"], /Labels: \d+ bytes is over the limit of 65536 bytes/);
    await refused(["network", "create", "--label", `big=${big}`, "big-labels"], /Labels: \d+ bytes is over the limit of 65536 bytes/);
    expect((await a(["create", "--name", "labelled", "--label", `fine=${"x".repeat(1000)}`, TEST_IMAGE, "echo", "fine"])).code).toBe(0);
  });

  it("count the image's labels too, which the container takes", async () => {
    const image = "berth-test/big-labels:latest";
    expect((await engine.docker(["create", "--name", "big-labels-base", TEST_IMAGE, "true"])).code).toBe(0);
    // Two changes: the engine reads each as a Dockerfile line, at most 64 KiB.
    expect(
      (await engine.docker(["commit", "--change", `LABEL a=${"x".repeat(40_000)}`, "--change", `LABEL b=${"x".repeat(40_000)}`, "big-labels-base", image]))
        .code,
    ).toBe(0);
    await refused(["create", image, "true"], /Labels \(with the image's\): \d+ bytes is over the limit of 65536 bytes/);
  });
});

describe("mounts", () => {
  // Measured: one create with 5000 anonymous volumes (60 KB of JSON) was accepted, made 5000 volumes
  // and 5000 mounts on the node, and a 900 KB `docker ps` entry.
  it("a container has at most the limit, its image's volumes included", async () => {
    const volumes = Array.from({ length: 65 }, (_, n) => ["-v", `/v${n}`]).flat();
    await refused(["create", ...volumes, TEST_IMAGE, "true"], /HostConfig: 65 mounts is over the limit of 64 a container/);
    await refused(
      ["create", ...volumes.slice(0, 122), "--tmpfs", "/t1", "--mount", "type=volume,target=/m", "-v", "named:/n", "--tmpfs", "/t2", TEST_IMAGE, "true"],
      /65 mounts is over the limit of 64/,
    );
    const image = "berth-test/many-volumes:latest";
    expect((await engine.docker(["create", "--name", "many-volumes-base", TEST_IMAGE, "true"])).code).toBe(0);
    expect(
      (await engine.docker(["commit", "--change", `VOLUME ${JSON.stringify(Array.from({ length: 60 }, (_, n) => `/i${n}`))}`, "many-volumes-base", image]))
        .code,
    ).toBe(0);
    await refused(["create", ...volumes.slice(0, 10), image, "true"], /65 mounts is over the limit of 64 a container/);
    expect((await a(["create", "--name", "mounts-ok", ...volumes.slice(0, 8), image, "true"])).code).toBe(0);
  });
});

describe("published ports", () => {
  it("a range counts one port per port, and a container publishes at most the limit", async () => {
    await refused(["create", "-p", "40000-40100:40000-40100", TEST_IMAGE, "true"], /HostConfig\.PortBindings: 101 published ports is over the limit of 20/);
    await refused(["create", "--expose", "1000-1100", "-P", TEST_IMAGE, "true"], /101 published ports is over the limit of 20/);
    // A host range for one container port is one port: the engine picks one in the range.
    expect((await a(["create", "--name", "one-in-range", "-p", "40000-41000:80", TEST_IMAGE, "true"])).code).toBe(0);
  });

  it("a port written with and without its protocol counts both, as the engine publishes both", async () => {
    // The docker CLI always writes 80/tcp; the API takes "80" too, and the engine keeps the two keys apart.
    const bindings = (from: number, count: number) => Array.from({ length: count }, (_, n) => ({ HostPort: String(from + n) }));
    const response = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/create?name=twice`, {
      method: "POST",
      headers: { "x-auth-token": alice.token, "x-auth-tenantid": alice.tenant, "content-type": "application/json" },
      body: JSON.stringify({
        Image: TEST_IMAGE,
        ExposedPorts: { "80": {}, "80/tcp": {} },
        HostConfig: { PortBindings: { "80": bindings(40200, 20), "80/tcp": bindings(40220, 1) } },
      }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(403);
    expect(text).toContain("HostConfig.PortBindings: 21 published ports is over the limit of 20 a container");
    expect((await engine.api("GET", "/containers/tenant-a_twice/json")).status).toBe(404);
  });

  it("a tenant's containers, running or not, publish at most the tenant's limit together", async () => {
    const limited = await startTestProxy(engine, { ...env, BERTH_PUBLISHED_PORTS_TENANT_MAX: "3" });
    try {
      const t = asUser(limited, alice);
      expect((await t(["rm", "-f", "one-in-range"])).code).toBe(0);
      expect((await t(["create", "--name", "two-ports", "-p", "40100-40101:80-81", TEST_IMAGE, "true"])).code).toBe(0);
      expect((await t(["create", "--name", "all-exposed", "--expose", "90", "-P", TEST_IMAGE, "true"])).code).toBe(0);
      const over = await t(["create", "--name", "one-more", "-p", "40102:80", TEST_IMAGE, "true"]);
      expect(over.stderr).toContain("published port limit exceeded: limit 3 a tenant, in use 3, requested 1");
      expect((await engine.api("GET", "/containers/tenant-a_one-more/json")).status).toBe(404);
      expect((await t(["rm", "two-ports"])).code).toBe(0);
      expect((await t(["create", "--name", "one-more", "-p", "40102:80", TEST_IMAGE, "true"])).code).toBe(0);
    } finally {
      await limited.stop();
    }
  });

  it("engines run with the rendered DOCKER_OPTS serve them from outside the node with no docker-proxy process", async () => {
    const rendered = renderDockerDefaults({
      hostname: "node",
      nodeAddress: "10.0.0.1",
      enginePort: 2375,
      clusterStore: { etcdAddress: "10.0.0.2", etcdPort: 2379 },
      addressPool: DEFAULT_CONTAINER_ADDRESS_POOL,
      mtu: 1500,
    });
    const flags = execStartWords(parseEnvironmentFile(rendered).DOCKER_OPTS!).filter((word) => word.startsWith("--userland-proxy"));
    expect(flags).toEqual(["--userland-proxy=false"]);
    const node = await startEngine({ extraArgs: flags });
    const nodeProxy = await startTestProxy(node, env);
    try {
      const n = asUser(nodeProxy, alice);
      const run = await n([
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "40080:80",
        TEST_IMAGE,
        "sh",
        "-c",
        "mkdir /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www",
      ]);
      expect(run.code, run.stderr).toBe(0);
      let page = "";
      await waitFor(
        async () => {
          page = await fetch(`http://${node.address}:40080/`, { signal: AbortSignal.timeout(2_000) }).then(
            (r) => r.text(),
            () => "",
          );
          return page !== "";
        },
        15_000,
        200,
      );
      expect(page.trim()).toBe("hello");
      const dockerd = readFileSync(join(dirname(node.socketPath), "dockerd.pid"), "utf8").trim();
      const children = await runCommand(["ps", "-o", "comm=", "--ppid", dockerd]);
      expect(children.stdout).not.toContain("docker-proxy");
    } finally {
      await nodeProxy.stop();
      await node.stop();
    }
  });
});
