/**
 * Cross-tenant and host-escape attempts, by category: references, bodies, lists, streams,
 * events/info, host escapes, quota bypass, malformed HTTP. The victim owns a container, a network
 * and a volume with data in it; the attacker tries to reach them and the host. Every attempt must
 * fail closed — refused, or answered as if nothing were there — and the engine, inspected directly,
 * must be unchanged afterwards.
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, startEngine, testSandbox } from "../../scripts/harness/index.ts";
import { engineState } from "../support/engine-state.ts";
import { testDir } from "../support/test-dir.ts";
import { type TestProxy, asUser, startTestProxy, tenantUser } from "../support/proxy.ts";

const dir = testDir("attacks");
const victim = tenantUser("victim", "victim", "token-victim-1");
const attacker = tenantUser("attacker", "attacker", "token-attacker-1");
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file("tokens.json", [
    { token: victim.token, user: "victim", tenant: "victim" },
    { token: attacker.token, user: "attacker", tenant: "attacker" },
  ]),
  SWARM_FLAVORS_ENFORCED: "true",
  SWARM_FLAVORS_FILE: dir.file("flavors.json", { default: { Memory: 64 }, big: { Memory: 128 } }),
  SWARM_ENFORCE_QUOTA: "true",
  SWARM_QUOTA_FILE: dir.file("quota.json", { Memory: 256 }),
};

let engine: Engine;
let proxy: TestProxy;
let attack: ReturnType<typeof asUser>;
let victimId: string;
let victimNetworkId: string;

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`http://127.0.0.1:${proxy.port}/v1.41${path}`, {
    method,
    headers: {
      "x-auth-token": attacker.token,
      "x-auth-tenantid": attacker.tenant,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text };
}

/** Runs an attempt and checks that the engine is exactly as before; returns the attempt's result. */
async function unchanged<T>(attempt: () => Promise<T>): Promise<T> {
  const before = await engineState(engine);
  const result = await attempt();
  expect(await engineState(engine)).toBe(before);
  return result;
}

async function cliFails(args: string[], message: string | RegExp): Promise<void> {
  const result = await unchanged(() => attack(args));
  expect(result.code, `${args.join(" ")} must fail`).not.toBe(0);
  expect(result.stderr).toMatch(message);
}

async function apiFails(method: string, path: string, body: unknown, status: number, message: string | RegExp): Promise<void> {
  const result = await unchanged(() => api(method, path, body));
  expect(result.status, `${method} ${path}: ${result.text}`).toBe(status);
  expect(result.text).toMatch(message);
}

beforeAll(async () => {
  engine = await startEngine();
  proxy = await startTestProxy(engine, env);
  attack = asUser(proxy, attacker);
  const owner = asUser(proxy, victim);
  expect((await owner(["network", "create", "private"])).code).toBe(0);
  expect((await owner(["volume", "create", "secrets"])).code).toBe(0);
  expect((await owner(["run", "--rm", "-v", "secrets:/s", TEST_IMAGE, "sh", "-c", "echo victim-secret > /s/data"])).code).toBe(0);
  expect(
    (
      await owner([
        "run",
        "-d",
        "--name",
        "db",
        "-i",
        "--network",
        "private",
        "-v",
        "secrets:/s",
        TEST_IMAGE,
        "sh",
        "-c",
        "while true; do echo victim-log; sleep 1; done",
      ])
    ).code,
  ).toBe(0);
  victimId = (await owner(["inspect", "-f", "{{.Id}}", "db"])).stdout.trim();
  victimNetworkId = (await owner(["network", "inspect", "-f", "{{.Id}}", "private"])).stdout.trim();
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

describe("references", () => {
  it.each([
    ["inspect by name", ["inspect", "db"], /No such object: db|No such container: db/],
    ["logs by short id", () => ["logs", victimId.slice(0, 8)], /No such container/],
    ["stop by full id", () => ["stop", victimId], /No such container/],
    ["exec by id", () => ["exec", victimId, "cat", "/s/data"], /No such container/],
    ["rename by id", () => ["rename", victimId, "mine"], /No such container/],
    ["network rm by id", () => ["network", "rm", victimNetworkId], /not found/],
    ["volume rm by name", ["volume", "rm", "secrets"], /no such volume/],
  ])("%s", async (_what, args, message) => {
    await cliFails(typeof args === "function" ? args() : args, message);
  });

  it("an id prefix shared with the victim resolves only inside the attacker's objects", async () => {
    await apiFails("GET", `/containers/${victimId.slice(0, 1)}/json`, undefined, 404, /No such container/);
  });
});

describe("references hidden in bodies", () => {
  // Through the API: the docker CLI answers a 404 on create by trying to pull the image.
  const create = (hostConfig: Record<string, unknown>, networking?: Record<string, unknown>) => ({
    Image: TEST_IMAGE,
    HostConfig: hostConfig,
    ...(networking ? { NetworkingConfig: { EndpointsConfig: networking } } : {}),
  });
  it.each([
    ["a link to the victim's container", () => create({ Links: ["db:db"] }), /No such container: db/],
    ["volumes-from the victim's container", () => create({ VolumesFrom: [victimId] }), /No such container/],
    ["its network namespace", () => create({ NetworkMode: `container:${victimId}` }), /No such container/],
    ["its pid namespace", () => create({ PidMode: `container:${victimId}` }), /No such container/],
    ["its ipc namespace", () => create({ IpcMode: `container:${victimId.slice(0, 12)}` }), /No such container/],
    ["the victim's network by id", () => create({ NetworkMode: victimNetworkId }), /not found/],
    ["the victim's network as an endpoint", () => create({}, { [victimNetworkId.slice(0, 12)]: {} }), /not found/],
    ["an endpoint link to the victim's container", () => create({ NetworkMode: "bridge" }, { bridge: { Links: ["db"] } }), /No such container/],
  ])("%s", async (_what, body, message) => {
    await apiFails("POST", "/containers/create", body(), 404, message);
  });

  it("connecting the victim's container to a network", async () => {
    await cliFails(["network", "connect", "bridge", victimId], /No such container/);
  });

  it("a volume named like the victim's is the attacker's own, empty one", async () => {
    const read = await attack(["run", "--rm", "-v", "secrets:/s", TEST_IMAGE, "sh", "-c", "cat /s/data || echo empty"]);
    expect(read.stdout).toBe("empty\n");
    const mount = await attack(["run", "--rm", "--mount", "type=volume,source=secrets,target=/s", TEST_IMAGE, "ls", "/s"]);
    expect(mount.stdout).toBe("");
  });

  it("duplicate JSON keys are read as the engine would read them, and refused", async () => {
    await apiFails("POST", "/containers/create", '{"Image":"' + TEST_IMAGE + '","HostConfig":{"Privileged":false,"Privileged":true}}', 403, /Privileged/);
  });
});

describe("lists", () => {
  it("show nothing of the victim's containers, networks or volumes", async () => {
    const [ps, networks, volumes] = await Promise.all([
      attack(["ps", "-a", "--format", "{{.ID}} {{.Names}}"]),
      attack(["network", "ls", "--format", "{{.ID}} {{.Name}}"]),
      attack(["volume", "ls", "--format", "{{.Name}}"]),
    ]);
    for (const output of [ps.stdout, networks.stdout]) {
      expect(output).not.toMatch(/\bdb\b|private|victim/);
      expect(output).not.toContain(victimId.slice(0, 12));
      expect(output).not.toContain(victimNetworkId.slice(0, 12));
    }
    for (const name of volumes.stdout.split("\n").filter(Boolean)) {
      expect((await engine.api("GET", `/volumes/attacker_${name}`)).body.Labels).toEqual({ "berth.tenant": "attacker" });
    }
    const byLabel = await attack(["ps", "-a", "-q", "--filter", "label=berth.tenant=victim"]);
    expect(byLabel.stdout).toBe("");
  });

  it("inside the shared bridge network, only the attacker's own containers appear", async () => {
    const bridge = await api("GET", "/networks/bridge");
    expect(bridge.text).not.toContain(victimId);
  });
});

describe("streams", () => {
  it("attach, logs and exec start on the victim's objects are refused before any stream", async () => {
    await cliFails(["attach", "--no-stdin", victimId], /No such container/);
    await cliFails(["logs", "-f", victimId], /No such container/);
    const exec = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/${victimId}/exec`, {
      method: "POST",
      headers: { "x-auth-token": victim.token, "x-auth-tenantid": victim.tenant, "content-type": "application/json" },
      body: JSON.stringify({ Cmd: ["cat", "/s/data"], AttachStdout: true }),
    });
    const { Id } = (await exec.json()) as { Id: string };
    await apiFails("POST", `/exec/${Id}/start`, { Detach: false }, 404, /No such exec instance/);
    await apiFails("GET", `/exec/${Id}/json`, undefined, 404, /No such exec instance/);
  });
});

describe("events and info", () => {
  it("a live event stream carries the attacker's own events and none of the victim's", async () => {
    const stream = spawn("/usr/local/bin/docker", ["events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"], {
      env: { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${proxy.port}`, DOCKER_CONFIG: attacker.configDir },
    });
    let seen = "";
    stream.stdout.on("data", (chunk) => (seen += chunk));
    // Markers from the attacker bracket the victim's activity, so no sleep guesses when the stream is up.
    const until = async (marker: string) => {
      for (let tries = 0; tries < 100 && !seen.includes(marker); tries++) {
        if (!seen.includes("attacker-first")) await attack(["run", "--rm", "--name", `attacker-first`, TEST_IMAGE, "true"]);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    await until("container start attacker-first");
    expect((await asUser(proxy, victim)(["run", "--rm", "--name", "victim-live", TEST_IMAGE, "true"])).code).toBe(0);
    expect((await attack(["run", "--rm", "--name", "attacker-last", TEST_IMAGE, "true"])).code).toBe(0);
    await until("container destroy attacker-last");
    stream.kill("SIGKILL");
    expect(seen).toContain("container destroy attacker-last");
    expect(seen).not.toContain("victim");
  });

  it("events, info and system df tell nothing about the victim", async () => {
    const since = Math.floor(Date.now() / 1000) - 120;
    const events = await attack(["events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000)), "--format", "{{json .}}"]);
    expect(events.stdout).not.toMatch(/victim|private|\bdb\b/);
    expect(events.stdout).not.toContain(victimId);
    expect((await attack(["info", "-f", "{{.Containers}} {{.ContainersRunning}}"])).stdout.trim()).toBe("0 0");
    const df = await attack(["system", "df", "-v"]);
    expect(df.stdout).not.toMatch(/victim|\bdb\b/);
  });
});

describe("host escapes", () => {
  it.each([
    [["--privileged"], /Privileged/],
    [["--cap-add", "SYS_ADMIN"], /CapAdd/],
    [["--device", "/dev/mem"], /Devices/],
    [["-v", "/:/host"], /host bind mounts/],
    [["--mount", "type=bind,source=/etc,target=/etc2"], /Mounts\[0\]\.Type/],
    [["--pid", "host"], /PidMode/],
    [["--network", "host"], /NetworkMode/],
    [["--ipc", "host"], /IpcMode/],
    [["--uts", "host"], /UTSMode/],
    [["--userns", "host"], /UsernsMode/],
    [["--cgroupns", "host"], /CgroupnsMode/],
    [["--security-opt", "seccomp=unconfined"], /SecurityOpt/],
    [["--security-opt", "apparmor=unconfined"], /SecurityOpt/],
    [["--sysctl", "net.ipv4.ip_forward=1"], /Sysctls/],
    [["--cgroup-parent", "/"], /CgroupParent/],
    [["--runtime", "runsc"], /Runtime/],
    [["--log-driver", "syslog"], /LogConfig/],
    [["-p", "22:22"], /outside 32768-61000/],
    [["-p", "127.0.0.1:40000:80"], /host address/],
    [["--oom-kill-disable"], /OomKillDisable/],
    [["--pids-limit", "-1"], /PidsLimit/],
    [["--device-cgroup-rule", "a *:* rwm"], /DeviceCgroupRules/],
    [["--tmpfs", "/t:size=10g"], /over the limit/],
  ])("docker create %s is refused with the field named", async (flags, message) => {
    await cliFails(["create", ...flags, TEST_IMAGE, "true"], message);
  });

  // Go's JSON decoder matches field names regardless of case and keeps the last value of a field:
  // a lower-case twin after a checked field replaces it at the engine, inside nested objects too.
  it.each([
    [
      "a host port outside the range (the node's SSH)",
      { PortBindings: { "80/tcp": [{ HostPort: "", hostport: "22" }] } },
      /hostport \(did you mean HostPort\?\)/,
    ],
    [
      "a binding to one host address",
      { PortBindings: { "80/tcp": [{ HostIp: "", hostip: "127.0.0.1", HostPort: "40001" }] } },
      /hostip \(did you mean HostIp\?\)/,
    ],
    [
      "a log driver that connects out from the host",
      { LogConfig: { Type: "", type: "syslog", config: { "syslog-address": "udp://127.0.0.1:514" } } },
      /unknown field HostConfig\.LogConfig\.type \(did you mean Type\?\)/,
    ],
  ])("docker create with a lower-case twin of a checked nested field is refused: %s", async (_what, hostConfig, message) => {
    await apiFails("POST", "/containers/create", { Image: TEST_IMAGE, HostConfig: hostConfig }, 400, message);
  });

  it("network create with a lower-case twin of IPAM's checked fields is refused", async () => {
    await apiFails(
      "POST",
      "/networks/create",
      { Name: "twin", IPAM: { Driver: "default", config: [{ Subnet: "169.254.169.0/24" }] } },
      400,
      /unknown field IPAM\.config \(did you mean Config\?\)/,
    );
    await apiFails("POST", "/networks/create", { Name: "twin", IPAM: { options: { foo: "bar" } } }, 400, /unknown field IPAM\.options/);
  });

  it("a local volume mounting a host path is refused", async () => {
    await cliFails(["volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", "hostetc"], /DriverOpts/);
  });

  it("privileged exec and network driver tricks are refused", async () => {
    const own = await attack(["run", "-d", "--name", "own", TEST_IMAGE, "sleep", "1000"]);
    expect(own.code).toBe(0);
    await cliFails(["exec", "--privileged", "own", "true"], /privileged exec/);
    await cliFails(["network", "create", "-o", "com.docker.network.bridge.name=docker0", "hijack"], /Options/);
    await cliFails(["network", "create", "--subnet", "192.0.2.0/24", "overlap"], /custom subnets/);
    await cliFails(["network", "create", "-d", "macvlan", "mac"], /Driver/);
    expect((await attack(["rm", "-f", "own"])).code).toBe(0);
  });
});

describe("docker top", () => {
  const secret = "victim-env-secret-7f3a";
  let victimPid: number;
  beforeAll(async () => {
    const owner = asUser(proxy, victim);
    expect((await owner(["run", "-d", "--name", "vault", "-e", `SECRET=${secret}`, TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
    expect((await attack(["run", "-d", "--name", "prober", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
    victimPid = (await engine.api("GET", "/containers/victim_vault/json")).body.State.Pid;
  });
  afterAll(async () => {
    await asUser(proxy, victim)(["rm", "-f", "vault"]);
    await attack(["rm", "-f", "prober"]);
  });

  const top = (psArgs: string) => unchanged(() => api("GET", `/containers/prober/top?ps_args=${encodeURIComponent(psArgs)}`));
  // Under gVisor the engine would list the node's processes: the proxy refuses every docker top.
  const underGvisor = testSandbox() === "gvisor";

  it("cannot read another tenant's environment through ps options that defeat the engine's pid filter", async () => {
    // ps refuses -q beside -p, so dockerd runs ps over the whole host; the column before "PID" then
    // walks along the victim's command line and environment, one token per error message.
    const crafted = [
      ...Array.from({ length: 8 }, (_, n) => `-o args:4000,${"ni,".repeat(n)}pid e -p ${victimPid}`),
      `e -o args,ni,pid -p ${victimPid}`,
      `-o args,pid e --ppid 1`,
      `axfe -o args,pid`,
      `-opid=X,args=PID e -p ${victimPid}`,
      `-ef -o args,ni,pid`,
      `aux  -p ${victimPid}`,
    ];
    const answers: { psArgs: string; status: number; text: string }[] = [];
    for (const psArgs of crafted) answers.push({ psArgs, ...(await top(psArgs)) });
    expect(answers.filter(({ text }) => text.includes(secret))).toEqual([]);
    for (const { psArgs, status, text } of answers) {
      expect(status, `${psArgs}: ${text}`).toBe(403);
      expect(text).toContain(underGvisor ? "docker top is not available under the runsc runtime" : "ps_args");
    }
  });

  // One test whichever the sandbox, so that no run skips it: what the usual options get differs.
  it("lists the caller's own processes with the usual options (refused whatever the options under gVisor)", async () => {
    for (const psArgs of ["", "aux", "-ef", "-o pid,comm", "-eo pid,user,args"]) {
      const answer = await top(psArgs);
      if (underGvisor) {
        expect(answer.status, `${psArgs}: ${answer.text}`).toBe(403);
        expect(answer.text).toContain("docker top is not available under the runsc runtime");
        continue;
      }
      expect(answer.status, `${psArgs}: ${answer.text}`).toBe(200);
      const { Processes } = JSON.parse(answer.text) as { Processes: string[][] };
      expect(Processes.map((row) => row[row.length - 1])).toEqual([expect.stringMatching(/^sleep( 1000)?$/)]);
      expect(answer.text).not.toContain(secret);
    }
    const cli = await attack(["top", "prober", "aux"]);
    if (underGvisor) expect(cli.stderr).toContain("docker top is not available under the runsc runtime");
    else expect(cli.stdout).toContain("sleep 1000");
  });
});

describe("engine internals", () => {
  it("info names nothing of the node: data root, name, cluster store, proxies, warnings", async () => {
    const direct = (await engine.api("GET", "/info")).body as Record<string, unknown>;
    const answer = await api("GET", "/info");
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.text) as Record<string, unknown>;
    for (const field of ["DockerRootDir", "Name", "ClusterStore", "ClusterAdvertise", "HttpProxy", "HttpsProxy", "NoProxy", "InitBinary"]) {
      const value = direct[field];
      if (typeof value === "string" && value !== "") expect(answer.text, field).not.toContain(value);
    }
    expect(seen).toMatchObject({ DockerRootDir: "", ClusterStore: "", ClusterAdvertise: "", Warnings: null, RegistryConfig: null, DefaultAddressPools: null });
    expect(JSON.stringify(seen.Runtimes)).not.toMatch(/path/i);
    expect(seen.ServerVersion).toBe(direct.ServerVersion);
    expect(seen.NCPU).toBe(direct.NCPU);
    const cli = await attack(["info"]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("Server Version");
    expect(cli.stdout).not.toContain(String(direct.DockerRootDir));
  });

  it("_ping without a token names neither the engine nor its version, and still gives the API version", async () => {
    const version = (await engine.api("GET", "/version")).body.Version as string;
    for (const method of ["GET", "HEAD"]) {
      const ping = await fetch(`http://127.0.0.1:${proxy.port}/_ping`, { method });
      expect(ping.status).toBe(200);
      expect(ping.headers.get("server")).toBeNull();
      expect(ping.headers.get("api-version")).toBe("1.41");
      expect([...ping.headers.values()].join(" ")).not.toContain(version);
      expect(await ping.text()).toBe(method === "GET" ? "OK" : "");
    }
  });

  it("registries at the cluster's private addresses are refused before any connection, all with one message", async () => {
    const attempts: [string, string, unknown][] = [
      ["POST", `/images/create?fromImage=${encodeURIComponent(`${engine.address}:2375/x`)}&tag=latest`, undefined],
      ["POST", `/images/create?fromImage=${encodeURIComponent("127.0.0.1:9/x")}&tag=latest`, undefined],
      ["POST", `/images/create?fromImage=${encodeURIComponent("localhost:22/x")}&tag=latest`, undefined],
      ["POST", `/images/create?fromImage=${encodeURIComponent("[::1]:2379/x")}&tag=latest`, undefined],
      ["POST", "/auth", { serveraddress: "http://169.254.169.254:80/", username: "u", password: "p" }],
      ["POST", "/auth", { serveraddress: `${engine.address}:22`, username: "u", password: "p" }],
      ["GET", `/distribution/${engine.address}:2379/x/json`, undefined],
      ["GET", `/images/search?term=${encodeURIComponent(`${engine.address}:7946/x`)}`, undefined],
      ["POST", "/containers/create", { Image: `${engine.address}:4789/x:latest` }],
    ];
    const messages: string[] = [];
    for (const [method, path, body] of attempts) {
      const answer = await unchanged(() => api(method, path, body));
      expect(answer.status, `${method} ${path}: ${answer.text}`).toBe(403);
      messages.push((JSON.parse(answer.text) as { message: string }).message.replace(/registry \S+ /, "registry X "));
    }
    expect(new Set(messages)).toEqual(new Set(["registry X is not available to tenants of this service"]));
    await cliFails(["pull", `${engine.address}:2375/x`], /is not available to tenants of this service/);
  });
});

describe("quota bypass", () => {
  let quotaProxy: TestProxy;
  beforeAll(async () => {
    await proxy.stop();
    quotaProxy = await startTestProxy(engine, { ...env, SWARM_QUOTA_FILE: dir.file("quota-cpu.json", { Memory: 256, Cpus: 2 }) });
    proxy = quotaProxy;
    attack = asUser(proxy, attacker);
  });

  it("cannot ask for unlimited or oversized resources, on create or update", async () => {
    const fill = await Promise.all(["q1", "q2"].map((name) => attack(["create", "--name", name, "--cpus", "0.5", "-m", "128m", TEST_IMAGE, "true"])));
    expect(fill.every((r) => r.code === 0)).toBe(true);
    await cliFails(["create", "--cpus", "0.5", TEST_IMAGE, "true"], /memory quota exceeded/);
    await cliFails(["update", "--cpus", "4", "q1"], /CPU quota exceeded/);
    await cliFails(["update", "-m", "4g", "--memory-swap", "4g", "q1"], /flavors/);
    await cliFails(["update", "--memory-swap", "-1", "q1"], /MemorySwap/);
    await apiFails(
      "POST",
      "/containers/create",
      { Image: TEST_IMAGE, HostConfig: { NanoCpus: 0, CpuQuota: 400000, CpuPeriod: 100000, Memory: 0 } },
      403,
      /quota/,
    );
    expect((await attack(["rm", "q1", "q2"])).code).toBe(0);
  });
});

describe("malformed HTTP", () => {
  it.each([
    ["GET", "/containers/json?filters=%7B%7D&filters=%7B%22label%22%3A%5B%22berth.tenant%3Dvictim%22%5D%7D", 400, /duplicate query parameter/],
    ["GET", `/containers/..%2f..%2fcontainers%2f${"x"}/json`, 400, /encoded slash/],
    ["GET", "/v1.41/containers/json", 400, /more than one API version/],
    ["POST", "/containers/create?name=xx", 400, /did you mean Privileged/],
  ])("%s %s", async (method, path, status, message) => {
    const body = method === "POST" ? { Image: TEST_IMAGE, HostConfig: { privileged: true } } : undefined;
    await apiFails(method, path, body, status, message);
  });

  it("a second request hidden behind Content-Length: 0 is parsed as its own request, with its own credentials", async () => {
    const answer = await unchanged(
      () =>
        new Promise<string>((resolve) => {
          const socket = net.connect(proxy.port, "127.0.0.1");
          let received = "";
          socket.on("data", (chunk) => (received += chunk));
          socket.write(
            `POST /v1.41/containers/${victimId}/stop HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${attacker.token}\r\nX-Auth-TenantId: attacker\r\nContent-Length: 0\r\n\r\n` +
              `DELETE /v1.41/containers/${victimId}?force=1 HTTP/1.1\r\nHost: x\r\n\r\n`,
          );
          setTimeout(() => {
            socket.destroy();
            resolve(received);
          }, 1_500);
        }),
    );
    expect(answer).toContain("HTTP/1.1 404");
    expect(answer).toContain("HTTP/1.1 401");
  });
});
