/**
 * Streams, and the bundle as the manager runs it. The proxy is built into its one-file bundle and
 * run by Debian 12's Node 18 (unpacked by scripts/install-deps.sh) as its own process, so its peak
 * memory can be read from /proc while a 1 GiB `docker cp` goes through it both ways. Attach, exec
 * and `logs -f` are checked to be interactive (output arrives while the container still runs), and
 * the legacy hijack (no Upgrade header) is spoken over a raw socket.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProxyBundle } from "../../scripts/build-proxy.ts";
import { NODE18, NODE18_LIBS } from "../../scripts/lib/node18.ts";
import { type Engine, TEST_IMAGE, freeLoopbackPort, runCommand, runDocker, startEngine } from "../../scripts/harness/index.ts";
import { tenantUser } from "../support/proxy.ts";

const dir = mkdtempSync(join(tmpdir(), "berth-streams-"));
const tokensFile = join(dir, "tokens.json");
writeFileSync(tokensFile, JSON.stringify([{ token: "token-streamer", user: "streamer", tenant: "streams" }]));
const user = tenantUser("streamer", "streams", "token-streamer");

let engine: Engine;
let proxyProcess: ChildProcess;
let port: number;
let host: string;

function runBundle(env: Record<string, string>): ChildProcess {
  return spawn(NODE18, [join(dir, "berth-proxy.cjs")], {
    env: { PATH: process.env.PATH, LD_LIBRARY_PATH: NODE18_LIBS, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Peak resident memory of a process so far, in MiB (VmHWM). */
function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match![1]) / 1024;
}

const docker = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) => runDocker("docker28", args, { host, configDir: user.configDir, ...opts });

beforeAll(async () => {
  if (!existsSync(NODE18)) throw new Error("Debian's Node 18 is missing: run scripts/install-deps.sh");
  const [started] = await Promise.all([startEngine(), buildProxyBundle(join(dir, "berth-proxy.cjs"))]);
  engine = started;
  port = await freeLoopbackPort();
  host = `tcp://127.0.0.1:${port}`;
  proxyProcess = runBundle({
    BERTH_LISTEN: `127.0.0.1:${port}`,
    BERTH_UPSTREAM: `unix://${engine.socketPath}`,
    BERTH_AUTH_BACKEND: "static",
    BERTH_TOKENS_FILE: tokensFile,
  });
  const started18 = await new Promise<string>((resolve, reject) => {
    let err = "";
    proxyProcess.stderr!.on("data", (chunk) => {
      err += chunk;
      if (err.includes("listening")) resolve(err);
    });
    proxyProcess.once("exit", (code) => reject(new Error(`the bundle exited with ${code}: ${err}`)));
  });
  expect(started18).toContain("berth tenant proxy listening");
});

afterAll(async () => {
  proxyProcess?.kill("SIGTERM");
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the bundle on Node 18", () => {
  it("serves _ping without a token and docker commands with one", async () => {
    const ping = await fetch(`http://127.0.0.1:${port}/_ping`);
    expect(await ping.text()).toBe("OK");
    expect(ping.headers.get("api-version")).toBe("1.41");
    expect((await docker(["run", "--rm", TEST_IMAGE, "echo", "node18"])).stdout).toBe("node18\n");
  });

  it("stops at start-up on a bad setting, naming it", async () => {
    const bad = runBundle({ BERTH_UPSTREAM: "docker.sock", BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokensFile });
    let stderr = "";
    bad.stderr!.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => bad.once("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toContain("bad setting BERTH_UPSTREAM: expected unix:///path or tcp://host:port");
  });
});

describe("streams", () => {
  it("copies 1 GiB in and out without the proxy holding it in memory", async () => {
    const big = join(dir, "big.bin");
    await runCommand(["truncate", "-s", "1G", big]);
    expect((await docker(["run", "-d", "--name", "store", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
    const before = peakRssMiB(proxyProcess.pid!);
    const copyIn = await docker(["cp", big, "store:/big.bin"], { timeoutMs: 300_000 });
    expect(copyIn.code, copyIn.stderr).toBe(0);
    expect((await docker(["exec", "store", "stat", "-c", "%s", "/big.bin"])).stdout.trim()).toBe(String(1024 ** 3));
    const copyOut = await runCommand(["sh", "-c", `/usr/local/bin/docker cp store:/big.bin - | wc -c`], {
      env: { DOCKER_HOST: host, DOCKER_CONFIG: user.configDir },
      timeoutMs: 300_000,
    });
    expect(Number(copyOut.stdout.trim())).toBeGreaterThan(1024 ** 3);
    const growth = peakRssMiB(proxyProcess.pid!) - before;
    expect(growth).toBeLessThan(128);
    rmSync(big);
  });

  it("streams logs -f while the container runs", async () => {
    expect((await docker(["run", "-d", "--name", "slow", TEST_IMAGE, "sh", "-c", "echo first; sleep 30; echo last"])).code).toBe(0);
    const follower = spawn("/usr/local/bin/docker", ["logs", "-f", "slow"], { env: { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: user.configDir } });
    const first = await new Promise<string>((resolve) => follower.stdout.once("data", (chunk) => resolve(String(chunk))));
    expect(first).toBe("first\n");
    expect(follower.exitCode).toBeNull(); // still following: the container has not finished
    follower.kill("SIGKILL");
  });

  it("runs attached: stdin goes in, output comes back, EOF ends the container", async () => {
    // run -i attaches before it starts the container (stdin-once), so EOF closes cat's stdin.
    const attached = await docker(["run", "-i", "--name", "catty", TEST_IMAGE, "cat"], { input: "through the proxy\n", timeoutMs: 60_000 });
    expect(attached.code, attached.stderr).toBe(0);
    expect(attached.stdout).toBe("through the proxy\n");
    expect((await docker(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "catty"])).stdout.trim()).toBe("exited 0");
  });

  it("speaks the legacy hijack: no Upgrade header, a raw-stream 200, then stdin and stdout", async () => {
    expect((await docker(["run", "-d", "-i", "--name", "legacy", TEST_IMAGE, "cat"])).code).toBe(0);
    const answer = await new Promise<Buffer>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let received = Buffer.alloc(0);
      socket.on("data", (chunk) => {
        received = Buffer.concat([received, chunk]);
        if (received.includes("legacy-echo")) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.write(
        "POST /v1.41/containers/legacy/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: proxy\r\n" +
          "X-Auth-Token: token-streamer\r\nX-Auth-TenantId: streams\r\nContent-Length: 0\r\n\r\n",
      );
      setTimeout(() => socket.write("legacy-echo\n"), 300);
      setTimeout(() => {
        socket.destroy();
        resolve(received);
      }, 10_000);
    });
    const text = answer.toString("latin1");
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain("application/vnd.docker.");
    expect(text).toContain("legacy-echo");
  });

  it("refuses a legacy hijack of another tenant's container before anything reaches it", async () => {
    await engine.docker(["run", "-d", "-i", "--name", "not-yours", TEST_IMAGE, "cat"]);
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let received = "";
      socket.on("data", (chunk) => (received += chunk));
      socket.on("close", () => resolve(received));
      socket.write(
        "POST /v1.41/containers/not-yours/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: proxy\r\n" +
          "X-Auth-Token: token-streamer\r\nX-Auth-TenantId: streams\r\nContent-Length: 0\r\n\r\nwritten-to-stdin\n",
      );
    });
    expect(answer).toMatch(/^HTTP\/1\.1 404/);
    expect(answer).toContain("No such container: not-yours");
    const logs = await engine.docker(["logs", "not-yours"]);
    expect(logs.stdout).toBe("");
  });
});
