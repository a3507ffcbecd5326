/**
 * Proves each part of the integration harness against the real daemons, so a failing proxy test
 * can be trusted to be about the proxy: engines are separate hosts on one bridge, both docker CLIs
 * run the test image, the run's registry serves pulls, Keystone issues, validates and revokes
 * tokens and survives an outage on the same URL, the client settings of a developer's shell reach
 * no daemon or CLI it starts, and a stopped engine leaves nothing behind.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  DOCKER_CLIS,
  runCommand,
  sharedKeystone,
  sharedRegistry,
  startEngine,
  startEngines,
  startKeystone,
  TEST_IMAGE,
  type DockerCli,
  type Engine,
} from "../scripts/harness/index.ts";

/** Runs a command inside an engine's network namespace, as that "host" would. */
function inNamespace(engine: Engine, argv: string[]) {
  return runCommand(["nsenter", `--net=/var/run/netns/${engine.netns}`, ...argv], { timeoutMs: 10_000 });
}

async function namespaces(): Promise<string[]> {
  return (await runCommand(["ip", "netns", "list"])).stdout.split("\n").map((line) => line.split(" ")[0]!);
}

const ping = (from: Engine, to: Engine) => inNamespace(from, ["busybox", "ping", "-c", "1", "-W", "1", to.address]);

describe("two engines", () => {
  let engines: Engine[];
  beforeAll(async () => {
    engines = await startEngines(2, { tcp: true });
  });
  afterAll(async () => {
    await Promise.all(engines.map((engine) => engine.stop()));
  });

  test("are separate hosts: own Name, ID, address and namespace", async () => {
    const [one, two] = engines as [Engine, Engine];
    const infos = await Promise.all(engines.map(async (engine) => (await engine.api("GET", "/info")).body));
    expect(infos.map((info) => info.Name)).toEqual([one.name, two.name]);
    expect(infos[0].Name).not.toBe(infos[1].Name);
    expect(infos[0].ID).not.toBe(infos[1].ID);
    expect(one.address).not.toBe(two.address);
    expect(one.netns).not.toBe(two.netns);
    const addresses = await inNamespace(one, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    expect(addresses.stdout).toContain(`inet ${one.address}/`);
  });

  test("reach each other through the run's bridge, and only through it", async () => {
    const [one, two] = engines as [Engine, Engine];
    expect((await ping(one, two)).code).toBe(0);
    expect((await ping(two, one)).code).toBe(0);

    // Take engine two's end of the veth pair off the bridge: the path is gone.
    const peer = (await inNamespace(two, ["ip", "-o", "link", "show", "dev", "eth0"])).stdout.match(/eth0@if(\d+)/)?.[1];
    const rootSide = (await runCommand(["ip", "-o", "link", "show"])).stdout
      .split("\n")
      .find((line) => line.startsWith(`${peer}: `))
      ?.split(/[:@]/)[1]
      ?.trim();
    expect(rootSide).toMatch(/^berth\d+v\d+$/);
    const bridge = (await runCommand(["ip", "-o", "link", "show", "dev", rootSide!])).stdout.match(/master (\S+)/)?.[1];
    await runCommand(["ip", "link", "set", rootSide!, "nomaster"]);
    try {
      expect((await ping(one, two)).code).not.toBe(0);
    } finally {
      await runCommand(["ip", "link", "set", rootSide!, "master", bridge!]);
    }
    expect((await ping(one, two)).code).toBe(0);
  });

  test("answer on their TCP address without TLS", async () => {
    const [one, two] = engines as [Engine, Engine];
    expect(one.tcpHost).toBe(`tcp://${one.address}:2375`);
    const viaTcp = await runCommand([DOCKER_CLIS.docker20, "-H", one.tcpHost!, "info", "--format", "{{.Name}}"]);
    expect(viaTcp.stdout.trim()).toBe(one.name);
    // From another host on the bridge, as the proxy on the manager reaches the nodes.
    const fromTwo = await inNamespace(two, ["busybox", "wget", "-q", "-O", "-", `http://${one.address}:2375/_ping`]);
    expect(fromTwo.stdout).toBe("OK");
  });
});

describe("one engine", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await startEngine({ labels: ["berth.test=harness"] });
  });
  afterAll(async () => {
    await engine.stop();
  });

  test.each(["docker28", "docker20"] as DockerCli[])("runs the test image with %s", async (cli) => {
    const result = await engine.docker(["run", "--rm", TEST_IMAGE, "echo", "hi"], { cli });
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("hi\n");
    expect(result.code).toBe(0);
  });

  test("has the labels it was started with and no other images", async () => {
    const info = (await engine.api("GET", "/info")).body;
    expect(info.Labels).toContain("berth.test=harness");
    const images = (await engine.api("GET", "/images/json")).body as { RepoTags: string[] }[];
    expect(images.flatMap((image) => image.RepoTags)).toEqual([TEST_IMAGE]);
  });

  test("pulls from the run's registry", async () => {
    const other = `${sharedRegistry().address}/berth-test/busybox:other`;
    expect((await engine.api("GET", `/images/${other}/json`)).status).toBe(404);
    const pulled = await engine.docker(["pull", other]);
    expect(pulled.stderr).toBe("");
    expect(pulled.code).toBe(0);
    const inspected = await engine.api("GET", `/images/${other}/json`);
    expect(inspected.status).toBe(200);
    expect(inspected.body.Config.Labels).toEqual({ "org.berth-test.variant": "other" });
  });
});

describe("Keystone", () => {
  const suffix = `${process.pid}-${Date.now()}`;

  async function validate(url: string, token: string) {
    const admin = await sharedKeystone().adminToken();
    return fetch(`${url}/v3/auth/tokens`, { headers: { "X-Auth-Token": admin, "X-Subject-Token": token } });
  }

  test("issues a project token to a new member, validates it, and forgets it once revoked", async () => {
    const keystone = sharedKeystone();
    const projectId = await keystone.createProject(`harness-project-${suffix}`);
    const userId = await keystone.createUser(`harness-user-${suffix}`, "secret-1", [projectId]);
    const issued = await keystone.issueToken(`harness-user-${suffix}`, "secret-1", projectId);
    expect(issued).toMatchObject({ projectId, userId });
    expect(Date.parse(issued.expiresAt)).toBeGreaterThan(Date.now());

    const valid = await validate(keystone.url, issued.token);
    expect(valid.status).toBe(200);
    const body = (await valid.json()) as { token: { project: { id: string }; roles: { name: string }[] } };
    expect(body.token.project.id).toBe(projectId);
    expect(body.token.roles.map((role) => role.name)).toContain("member");

    await keystone.revokeToken(issued.token);
    expect((await validate(keystone.url, issued.token)).status).toBe(404);
  });

  test("issues an unscoped token when no project is named, and refuses a wrong password", async () => {
    const keystone = sharedKeystone();
    await keystone.createUser(`harness-loner-${suffix}`, "secret-2", []);
    const issued = await keystone.issueToken(`harness-loner-${suffix}`, "secret-2");
    expect(issued.projectId).toBeUndefined();
    await expect(keystone.issueToken(`harness-loner-${suffix}`, "wrong")).rejects.toThrow(/401/);
  });

  test("a private Keystone goes down and comes back on the same URL with its tokens", async () => {
    const keystone = await startKeystone();
    try {
      const projectId = await keystone.createProject(`outage-${suffix}`);
      await keystone.createUser(`outage-user-${suffix}`, "secret-3", [projectId]);
      const before = await keystone.issueToken(`outage-user-${suffix}`, "secret-3", projectId);
      await keystone.stop();
      await expect(fetch(`${keystone.url}/v3`)).rejects.toThrow();
      await keystone.start();
      const admin = await keystone.adminToken();
      const after = await fetch(`${keystone.url}/v3/auth/tokens`, { headers: { "X-Auth-Token": admin, "X-Subject-Token": before.token } });
      expect(after.status).toBe(200);
    } finally {
      await keystone.stop();
    }
  });
});

test("a developer's sourced .local/env reaches neither an engine nor a CLI the harness starts", async () => {
  const clientSettings = { DOCKER_HOST: "tcp://127.0.0.1:1", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/nonexistent" };
  const saved = Object.fromEntries(Object.keys(clientSettings).map((name) => [name, process.env[name]]));
  Object.assign(process.env, clientSettings);
  let engine: Engine | undefined;
  try {
    // dockerd reads DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself and would not start.
    engine = await startEngine({ images: false, tcp: true });
    const version = await engine.docker(["version", "--format", "{{.Server.Version}}"]);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toMatch(/^20\.10\./);
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await engine?.stop();
  }
});

test("a stopped engine leaves no process, namespace or directory behind", async () => {
  const engine = await startEngine();
  const dir = dirname(engine.socketPath);
  const pid = Number(readFileSync(join(dir, "dockerd.pid"), "utf8"));
  expect(existsSync(`/proc/${pid}`)).toBe(true);
  expect(await namespaces()).toContain(engine.netns);
  // busybox sleep as PID 1 ignores SIGTERM: a plain dockerd shutdown would wait 10 s for it.
  expect((await engine.docker(["run", "-d", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);

  await engine.stop();
  expect(existsSync(`/proc/${pid}`)).toBe(false);
  expect(await namespaces()).not.toContain(engine.netns);
  expect(existsSync(dir)).toBe(false);
  await engine.stop(); // idempotent
});
