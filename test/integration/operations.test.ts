/**
 * Every operation tenants may use, through the proxy with the docker CLI: for the owner it works;
 * for another tenant it fails the way a missing object fails, and the engine, inspected directly,
 * is unchanged. One engine, one Keystone-backed proxy, the transcript's cast.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CommandResult,
  type Engine,
  PING_IMAGE,
  TEST_IMAGE,
  importPingImage,
  runCommand,
  sharedKeystone,
  sharedRegistry,
  startEngine,
  testEngineLine,
} from "../../scripts/harness/index.ts";
import { engineState } from "../support/engine-state.ts";
import { type Cast, type TestProxy, asUser, keystoneCast, startTestProxy } from "../support/proxy.ts";

let engine: Engine;
let proxy: TestProxy;
let cast: Cast;
let owner: ReturnType<typeof asUser>;
let member: ReturnType<typeof asUser>;
let intruder: ReturnType<typeof asUser>;
let admin: ReturnType<typeof asUser>;
/** The owner's `app`; the intruder has an `app` of its own, so it aims at this id. */
let ownerApp: string;

function ok(result: CommandResult): string {
  expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0);
  return result.stdout;
}

/** The intruder's attempt fails like a missing object, and the engine did not change. */
async function refusedToIntruder(args: string[], message: string | RegExp, input?: string): Promise<void> {
  const before = await engineState(engine);
  const attempt = await intruder(args, input === undefined ? {} : { input });
  expect(attempt.code, `${args.join(" ")} should fail: ${attempt.stdout}`).not.toBe(0);
  expect(attempt.stderr).toMatch(message);
  expect(await engineState(engine)).toBe(before);
}

const lines = (text: string) => text.split("\n").filter(Boolean).sort();

beforeAll(async () => {
  [engine, cast] = await Promise.all([startEngine(), keystoneCast(sharedKeystone())]);
  // The run's registry sits at a private address: the operator lists it for tenants.
  await importPingImage(engine);
  proxy = await startTestProxy(engine, { ...cast.env, BERTH_TENANT_REGISTRIES: sharedRegistry().address });
  owner = asUser(proxy, cast.user2);
  member = asUser(proxy, cast.user3);
  intruder = asUser(proxy, cast.user1);
  admin = asUser(proxy, cast.admin);
  ok(await owner(["run", "-d", "--name", "app", "--label", "role=web", TEST_IMAGE, "sh", "-c", "echo started; while true; do sleep 1; done"]));
  ok(await intruder(["run", "-d", "--name", "app", TEST_IMAGE, "sleep", "1000"]));
  ownerApp = ok(await owner(["inspect", "-f", "{{.Id}}", "app"])).trim();
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

describe("containers", () => {
  it("create with a name, start, and inspect", async () => {
    ok(await owner(["create", "--name", "made", TEST_IMAGE, "sleep", "1000"]));
    ok(await owner(["start", "made"]));
    expect(ok(await owner(["inspect", "-f", "{{.Name}} {{.State.Running}} {{json .Config.Labels}}", "made"])).trim()).toBe("/made true {}");
    await refusedToIntruder(["start", "made"], /No such container: made/);
    await refusedToIntruder(["inspect", "made"], /No such (container|object): made/);
  });

  it("stop, restart, kill, pause and unpause", async () => {
    for (const [command, state] of [
      ["pause", "paused"],
      ["unpause", "running"],
      ["stop", "exited"],
      ["restart", "running"],
      ["kill", "exited"],
    ] as const) {
      await refusedToIntruder([command, "made"], /No such container: made/);
      ok(await owner([command, "made"]));
      expect(ok(await owner(["inspect", "-f", "{{.State.Status}}", "made"])).trim()).toBe(state);
    }
  });

  it("wait for a container's exit code", async () => {
    ok(await owner(["run", "-d", "--name", "quick", TEST_IMAGE, "sh", "-c", "sleep 1; exit 3"]));
    await refusedToIntruder(["wait", "quick"], /No such container: quick/);
    expect(ok(await owner(["wait", "quick"])).trim()).toBe("3");
  });

  it("rename", async () => {
    await refusedToIntruder(["rename", "quick", "stolen"], /No such container: quick/);
    ok(await owner(["rename", "quick", "renamed"]));
    expect(lines(ok(await owner(["ps", "-a", "--format", "{{.Names}}"])))).toContain("renamed");
    const clash = await owner(["rename", "renamed", "app"]);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toContain('"/app" is already in use');
    expect(clash.stderr).not.toContain(cast.user2.tenant);
  });

  it("update resources", async () => {
    await refusedToIntruder(["update", "--cpu-shares", "512", ownerApp], new RegExp(`No such container: ${ownerApp}`));
    ok(await owner(["update", "--cpu-shares", "512", "app"]));
    expect(ok(await owner(["inspect", "-f", "{{.HostConfig.CpuShares}}", "app"])).trim()).toBe("512");
  });

  it("list with -a, every kind of filter, and --format", async () => {
    const ps = async (...args: string[]) => lines(ok(await owner(["ps", "-a", "--format", "{{.Names}}", ...args])));
    const everything = await ps();
    expect(everything).toEqual(["app", "made", "renamed"]);
    expect(await ps("--filter", "name=ap")).toEqual(["app"]);
    expect(await ps("--filter", "name=^/made$")).toEqual(["made"]);
    expect(await ps("--filter", "label=role=web")).toEqual(["app"]);
    expect(await ps("--filter", "status=exited")).toEqual(["made", "renamed"]);
    expect(await ps("--filter", "exited=3")).toEqual(["renamed"]);
    expect(await ps("--filter", `ancestor=${TEST_IMAGE}`)).toEqual(everything);
    const appId = ok(await owner(["inspect", "-f", "{{.Id}}", "app"])).trim();
    expect(await ps("--filter", `id=${appId.slice(0, 10)}`)).toEqual(["app"]);
    expect(await ps("--filter", "since=app")).toEqual(["made", "renamed"]);
    expect(await ps("--filter", "before=renamed")).toEqual(["app", "made"]);
    expect(await ps("--filter", "network=bridge")).toEqual(everything);
    const intruderSince = await intruder(["ps", "-a", "--filter", "since=made"]);
    expect(intruderSince.code).not.toBe(0);
    expect(intruderSince.stderr).toContain("No such container: made");
    expect(lines(ok(await owner(["ps", "--format", "{{.Names}}\t{{.Status}}"]))).every((line) => line.startsWith("app\t"))).toBe(true);
  });

  it("logs, including -f until the container exits", async () => {
    await refusedToIntruder(["logs", ownerApp.slice(0, 12)], new RegExp(`No such container: ${ownerApp.slice(0, 12)}`));
    expect(ok(await owner(["logs", "app"]))).toContain("started");
    ok(await owner(["run", "-d", "--name", "talker", TEST_IMAGE, "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"]));
    expect(ok(await owner(["logs", "-f", "talker"]))).toBe("line 1\nline 2\nline 3\n");
  });

  it("top, stats and diff", async () => {
    expect(ok(await owner(["top", "app"]))).toContain("sleep");
    expect(ok(await owner(["stats", "--no-stream", "--format", "{{.Name}}", "app"])).trim()).toBe("app");
    ok(await owner(["exec", "app", "sh", "-c", "echo x > /changed"]));
    expect(ok(await owner(["diff", "app"]))).toContain("A /changed");
    await refusedToIntruder(["top", "made"], /No such container: made/);
    await refusedToIntruder(["stats", "--no-stream", "made"], /No such container: made/);
    await refusedToIntruder(["diff", "made"], /No such container: made/);
  });

  it("cp both ways and export", async () => {
    const file = `/tmp/berth-cp-${process.pid}.txt`;
    await runCommand(["sh", "-c", `echo copied-in > ${file}`]);
    ok(await owner(["cp", file, "app:/copied.txt"]));
    expect(ok(await owner(["exec", "app", "cat", "/copied.txt"]))).toBe("copied-in\n");
    const out = await runCommand([
      "sh",
      "-c",
      `DOCKER_HOST=${proxy.host} DOCKER_CONFIG=${cast.user2.configDir} /usr/local/bin/docker cp app:/copied.txt - | tar -xO`,
    ]);
    expect(out.stdout).toBe("copied-in\n");
    await refusedToIntruder(["cp", file, "made:/x.txt"], /No such container: made/);
    await refusedToIntruder(["cp", "made:/bin/sh", "/tmp/x"], /No such container: made/);
    const exported = await runCommand([
      "sh",
      "-c",
      `DOCKER_HOST=${proxy.host} DOCKER_CONFIG=${cast.user2.configDir} /usr/local/bin/docker export app | tar -t | grep -c bin/busybox`,
    ]);
    expect(exported.stdout.trim()).toBe("1");
    await refusedToIntruder(["export", "made"], /No such container: made/);
    await runCommand(["rm", "-f", file]);
  });

  it("exec: attached, with stdin, detached, with a terminal, and inspect", async () => {
    expect(ok(await owner(["exec", "app", "echo", "hi"]))).toBe("hi\n");
    expect(ok(await member(["exec", "-i", "app", "cat"], { input: "from stdin\n" }))).toBe("from stdin\n");
    ok(await owner(["exec", "-d", "app", "sh", "-c", "echo detached > /detached"]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ok(await owner(["exec", "app", "cat", "/detached"]))).toBe("detached\n");
    // -it needs a terminal: `script` gives the CLI one, so exec resize runs too.
    const tty = await runCommand(["script", "-qec", "/usr/local/bin/docker exec -it app sh -c 'test -t 0 && echo has-tty'", "/dev/null"], {
      env: { DOCKER_HOST: proxy.host, DOCKER_CONFIG: cast.user2.configDir },
    });
    expect(tty.stdout).toContain("has-tty");
    await refusedToIntruder(["exec", "made", "echo", "hi"], /No such container: made/);
  });

  it("exec instances of others are not found", async () => {
    const created = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/app/exec`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-auth-token": cast.user2.token, "x-auth-tenantid": cast.user2.tenant },
      body: JSON.stringify({ Cmd: ["true"] }),
    });
    expect(created.status).toBe(201);
    const { Id } = (await created.json()) as { Id: string };
    const asIntruder = { "x-auth-token": cast.user1.token, "x-auth-tenantid": cast.user1.tenant };
    for (const [method, path] of [
      ["GET", `/exec/${Id}/json`],
      ["POST", `/exec/${Id}/resize?h=10&w=10`],
    ] as const) {
      const attempt = await fetch(`http://127.0.0.1:${proxy.port}/v1.41${path}`, { method, headers: asIntruder });
      expect(attempt.status).toBe(404);
      expect(((await attempt.json()) as { message: string }).message).toBe(`No such exec instance: ${Id}`);
    }
    const own = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/exec/${Id}/json`, {
      headers: { "x-auth-token": cast.user2.token, "x-auth-tenantid": cast.user2.tenant },
    });
    expect(own.status).toBe(200);
  });

  it("attach to a running container", async () => {
    const stopped = await owner(["attach", "--no-stdin", "talker"], { timeoutMs: 5_000 });
    expect(stopped.stderr).toContain("You cannot attach to a stopped container");
    ok(await owner(["run", "-d", "--name", "ticker", TEST_IMAGE, "sh", "-c", "while true; do echo tick; sleep 0.2; done"]));
    expect((await member(["attach", "--no-stdin", "ticker"], { timeoutMs: 2_000 })).stdout).toContain("tick\ntick");
    await refusedToIntruder(["attach", "--no-stdin", "ticker"], /No such container: ticker/);
  });

  it("remove with -f and -v, and prune only the tenant's own stopped containers", async () => {
    ok(await intruder(["create", "--name", "intruder-stopped", TEST_IMAGE, "true"]));
    ok(await owner(["run", "-d", "--name", "with-volume", "-v", "/data", TEST_IMAGE, "sleep", "1000"]));
    const anonymous = ok(await owner(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "with-volume"])).trim();
    await refusedToIntruder(["rm", "-v", "with-volume"], /No such container: with-volume/);
    ok(await owner(["rm", "-fv", "with-volume"]));
    const volumes = await engine.api("GET", "/volumes");
    expect(((volumes.body as any).Volumes ?? []).map((v: any) => v.Name)).not.toContain(anonymous);
    ok(await owner(["container", "prune", "-f"]));
    expect(lines(ok(await owner(["ps", "-a", "--format", "{{.Names}}"])))).toEqual(["app", "ticker"]);
    expect(lines(ok(await intruder(["ps", "-a", "--format", "{{.Names}}"])))).toEqual(["app", "intruder-stopped"]);
  });
});

describe("networks", () => {
  it("create, list, inspect, connect, disconnect, remove", async () => {
    ok(await owner(["network", "create", "backend"]));
    ok(await intruder(["network", "create", "backend"]));
    expect(lines(ok(await owner(["network", "ls", "--format", "{{.Name}}"])))).toEqual(["backend", "bridge", "none"]);
    await refusedToIntruder(["network", "connect", "backend", ownerApp], new RegExp(`No such container: ${ownerApp}`));
    ok(await owner(["network", "connect", "backend", "app"]));
    ok(await owner(["run", "-d", "--name", "peer", "--network", "backend", PING_IMAGE, "sleep", "1000"]));
    expect(ok(await owner(["exec", "peer", "ping", "-c", "1", "-W", "2", "app"]))).toContain("1 received");
    const members = ok(await owner(["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "backend"]));
    expect(members.trim().split(" ").sort()).toEqual(["app", "peer"]);
    const intruderView = ok(await intruder(["network", "inspect", "-f", "{{len .Containers}}", "backend"]));
    expect(intruderView.trim()).toBe("0");
    const bridgeView = ok(await intruder(["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "bridge"]));
    expect(bridgeView.trim()).toBe("app");
    const ownerId = ok(await owner(["network", "inspect", "-f", "{{.Id}}", "backend"])).trim();
    await refusedToIntruder(["network", "inspect", ownerId], new RegExp(`network ${ownerId} not found`));
    await refusedToIntruder(["network", "disconnect", ownerId, "app"], /not found|No such container/);
    ok(await owner(["network", "disconnect", "backend", "app"]));
    await refusedToIntruder(["network", "rm", ownerId], /not found/);
    ok(await owner(["rm", "-f", "peer"]));
    ok(await owner(["network", "rm", "backend"]));
    expect(lines(ok(await intruder(["network", "ls", "--format", "{{.Name}}"])))).toEqual(["backend", "bridge", "none"]);
  });

  it("prune only the tenant's unused networks", async () => {
    ok(await owner(["network", "create", "unused"]));
    ok(await intruder(["network", "prune", "-f"]));
    expect(lines(ok(await owner(["network", "ls", "--format", "{{.Name}}", "--filter", "name=unused"])))).toEqual(["unused"]);
    expect(ok(await owner(["network", "prune", "-f"]))).toContain("unused");
    expect(lines(ok(await owner(["network", "ls", "--format", "{{.Name}}"])))).toEqual(["bridge", "none"]);
  });
});

describe("volumes", () => {
  it("create, list, inspect, use, remove", async () => {
    ok(await owner(["volume", "create", "data"]));
    ok(await intruder(["volume", "create", "data"]));
    ok(await owner(["run", "--rm", "-v", "data:/data", TEST_IMAGE, "sh", "-c", "echo owner > /data/who"]));
    ok(await intruder(["run", "--rm", "-v", "data:/data", TEST_IMAGE, "sh", "-c", "echo intruder > /data/who"]));
    expect(ok(await member(["run", "--rm", "-v", "data:/data", TEST_IMAGE, "cat", "/data/who"]))).toBe("owner\n");
    expect(lines(ok(await owner(["volume", "ls", "--format", "{{.Name}}"])))).toEqual(["data"]);
    expect(ok(await owner(["volume", "inspect", "-f", "{{.Name}} {{json .Labels}}", "data"])).trim()).toBe("data {}");
    ok(await owner(["run", "--rm", "--mount", "type=volume,source=auto,target=/auto", TEST_IMAGE, "true"]));
    expect(lines(ok(await owner(["volume", "ls", "--format", "{{.Name}}"])))).toEqual(["auto", "data"]);
    ok(await owner(["volume", "rm", "auto"]));
    ok(await intruder(["volume", "rm", "data"]));
    expect(lines(ok(await owner(["volume", "ls", "--format", "{{.Name}}"])))).toEqual(["data"]);
    const missing = await intruder(["volume", "inspect", "data"]);
    expect(missing.stderr).toContain("no such volume");
  });

  it("prune only the tenant's unused volumes", async () => {
    ok(await intruder(["volume", "create", "intruders"]));
    ok(await owner(["volume", "prune", "-f"]));
    expect(lines(ok(await owner(["volume", "ls", "--format", "{{.Name}}"])))).toEqual([]);
    expect(lines(ok(await intruder(["volume", "ls", "--format", "{{.Name}}"])))).toEqual(["intruders"]);
  });
});

describe("images", () => {
  it("list, inspect and pull; changing images is for administrators", async () => {
    const image = `${sharedRegistry().address}/berth-test/busybox:other`;
    expect(ok(await owner(["pull", image]))).toContain("Downloaded newer image");
    expect(lines(ok(await intruder(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])))).toContain(image);
    expect(ok(await owner(["image", "inspect", "-f", "{{.Id}}", image])).trim()).toMatch(/^sha256:/);
    for (const args of [
      ["tag", image, "mine:latest"],
      ["rmi", image],
      ["image", "prune", "-af"],
    ]) {
      const refused = await owner(args);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("not available to tenants");
    }
    ok(await admin(["tag", image, "berth-test/admin-tag:1"]));
    ok(await admin(["rmi", "berth-test/admin-tag:1"]));
  });
});

describe("the administrator", () => {
  it("sees every tenant's containers under their engine names", async () => {
    const all = lines(ok(await admin(["ps", "-a", "--format", "{{.Names}}"])));
    expect(all).toContain(`${cast.user2.tenant}_app`);
    expect(all).toContain(`${cast.user1.tenant}_app`);
  });
});

describe("system", () => {
  it("info counts only the tenant's containers; version answers", async () => {
    const mine = lines(ok(await owner(["ps", "-aq"]))).length;
    expect(Number(ok(await owner(["info", "-f", "{{.Containers}}"])).trim())).toBe(mine);
    // The engine's own version, whichever line runs (20.10, or Debian 13's 26.1 with BERTH_TEST_ENGINE_LINE=current).
    const engineVersion = (await engine.api("GET", "/version")).body.Version;
    expect(engineVersion).toMatch(testEngineLine() === "current" ? /^26\./ : /^20\.10\./);
    expect(ok(await owner(["version", "-f", "{{.Server.Version}}"])).trim()).toBe(engineVersion);
  });

  it("offers API 1.41 and refuses a newer version itself, as an engine would", async () => {
    expect(ok(await owner(["version", "-f", "{{.Server.APIVersion}}"])).trim()).toBe("1.41");
    const headers = { "x-auth-token": cast.user2.token, "x-auth-tenantid": cast.user2.tenant };
    const newer = await fetch(`http://127.0.0.1:${proxy.port}/v1.45/containers/json`, { headers });
    expect(newer.status).toBe(400);
    expect(((await newer.json()) as { message: string }).message).toBe("client version 1.45 is too new. Maximum supported API version is 1.41");
    // Refused by the proxy, not passed on: an engine newer than 20.10 would have served it.
    expect(proxy.refusals.some((record) => record.path.startsWith("/v1.45/") && record.refusal.status === 400)).toBe(true);
  });

  it("events show the tenant's own objects only", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    ok(await intruder(["run", "--rm", "--name", "intruder-event", TEST_IMAGE, "true"]));
    ok(await owner(["run", "--rm", "--name", "owner-event", TEST_IMAGE, "true"]));
    const until = Math.floor(Date.now() / 1000) + 1;
    const events = ok(
      await owner(["events", "--since", String(since), "--until", String(until), "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]),
    );
    expect(events).toContain("container start owner-event");
    expect(events).not.toContain("intruder-event");
    expect(events).not.toContain(cast.user2.tenant);
  });

  it("system df lists the tenant's containers only", async () => {
    const df = ok(await owner(["system", "df", "-v", "--format", "{{json .}}"]));
    expect(df).toContain('"app"');
    expect(df).not.toContain("intruder-stopped");
  });
});
