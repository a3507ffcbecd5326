/**
 * A hostile tenant against the relayed bulk answers (logs, copies out, exports: `relay` in
 * tenant-proxy/src/streams.ts), on real parts: many `logs -f` streams must still count in the
 * tenant's call limit for their whole duration and give their places back when the client hangs
 * up; a request pipelined after a relayed one on the same connection must not be answered inside
 * the relayed body.
 */
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_IMAGE } from "../../scripts/harness/index.ts";
import { type TestCluster, startTestCluster } from "../support/cluster.ts";
import { type TestProxy, asUser, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("relay-attacks");
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const TENANT_CALLS = 8;
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file("tokens.json", [{ token: alice.token, user: "alice", tenant: alice.tenant }]),
  BERTH_TENANT_MAX_CALLS: String(TENANT_CALLS),
};

let cluster: TestCluster;
let proxy: TestProxy;
let a: ReturnType<typeof asUser>;

const auth = { "x-auth-token": alice.token, "x-auth-tenantid": alice.tenant };

/** A `logs -f` stream's answer status (or "no answer" within `waitMs`) and a way to hang up. */
function openLogs(name: string, waitMs: number): Promise<{ status: number | "no answer"; close(): void }> {
  return new Promise((resolve) => {
    const request = http.get({ host: "127.0.0.1", port: proxy.port, path: `/v1.41/containers/${name}/logs?stdout=1&follow=1`, agent: false, headers: auth });
    const close = () => request.destroy();
    const timer = setTimeout(() => resolve({ status: "no answer", close }), waitMs);
    request.on("error", () => undefined);
    request.on("response", (response) => {
      clearTimeout(timer);
      response.resume();
      resolve({ status: response.statusCode ?? 0, close });
    });
  });
}

beforeAll(async () => {
  cluster = await startTestCluster([[]]);
  proxy = await cluster.startProxy(env);
  a = asUser(proxy, alice);
  const run = await a(["run", "-d", "--name", "talker", TEST_IMAGE, "sh", "-c", "while true; do echo tick; sleep 1; done"]);
  expect(run.code, run.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

describe("relayed logs -f streams", () => {
  it("count in the tenant's call limit while they last, and give their places back when hung up", async () => {
    const streams = await Promise.all(Array.from({ length: TENANT_CALLS + 4 }, () => openLogs("talker", 10_000)));
    try {
      expect(streams.filter((s) => s.status === 200)).toHaveLength(TENANT_CALLS);
      expect(streams.filter((s) => s.status === 429)).toHaveLength(4);
    } finally {
      streams.forEach((s) => s.close());
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const again = await Promise.all(Array.from({ length: TENANT_CALLS }, () => openLogs("talker", 10_000)));
    try {
      expect(again.map((s) => s.status)).toEqual(Array.from({ length: TENANT_CALLS }, () => 200));
    } finally {
      again.forEach((s) => s.close());
    }
    // And again once the proxy has seen these hang up: the next test's calls need the places.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const third = await openLogs("talker", 10_000);
    third.close();
    expect(third.status).toBe(200);
  }, 60_000);
});

describe("a relayed logs -f of a container that writes nothing", () => {
  it("gives its place back as soon as the client hangs up, with no output to notice it by", async () => {
    const run = await a(["run", "-d", "--name", "silent", TEST_IMAGE, "sleep", "600"]);
    expect(run.code, run.stderr).toBe(0);
    const streams = await Promise.all(Array.from({ length: TENANT_CALLS }, () => openLogs("silent", 10_000)));
    expect(streams.map((s) => s.status)).toEqual(Array.from({ length: TENANT_CALLS }, () => 200));
    streams.forEach((s) => s.close());
    await new Promise((resolve) => setTimeout(resolve, 500));
    const again = await Promise.all(Array.from({ length: TENANT_CALLS }, () => openLogs("silent", 10_000)));
    again.forEach((s) => s.close());
    expect(again.map((s) => s.status)).toEqual(Array.from({ length: TENANT_CALLS }, () => 200));
    await new Promise((resolve) => setTimeout(resolve, 500));
  }, 60_000);
});

describe("a request pipelined after a relayed one", () => {
  it("is not answered inside the relayed body: the connection ends with it", async () => {
    const head = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${alice.token}\r\nX-Auth-TenantId: ${alice.tenant}\r\n\r\n`;
    const received = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(proxy.port, "127.0.0.1");
      let text = "";
      socket.on("data", (chunk) => (text += chunk.toString("latin1")));
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
      socket.write(head("/v1.41/containers/talker/logs?stdout=1&tail=2") + head("/v1.41/containers/json"));
      setTimeout(() => socket.destroy(), 10_000);
    });
    expect(received.startsWith("HTTP/1.1 200")).toBe(true);
    expect(received.toLowerCase()).toContain("connection: close");
    // Only one answer head on the connection, and no list of containers after the logs.
    expect(received.match(/HTTP\/1\.[01] \d{3}/g)).toHaveLength(1);
    expect(received).not.toContain('"Names"');
  }, 30_000);
});

/** The raw bytes of one exchange on a fresh connection, until the proxy closes it. */
function exchange(request: string, waitMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxy.port, "127.0.0.1");
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("close", () => resolve(text));
    socket.on("error", reject);
    socket.write(request);
    setTimeout(() => socket.destroy(), waitMs);
  });
}

describe("relayed answers", () => {
  it("say the engine's errors without the tenant's engine names, on a connection still usable", async () => {
    const answer = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/talker/archive?path=/no/such/file`, { headers: auth });
    expect(answer.status).toBe(404);
    const message = ((await answer.json()) as { message: string }).message;
    expect(message).toContain("Could not find the file /no/such/file");
    expect(message).not.toContain(`${alice.tenant}_`);
  });

  it("refuse a request body smuggled on a relayed GET, and run nothing it carries", async () => {
    const smuggled = "GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n";
    const chunk = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const received = await exchange(
      `GET /v1.41/containers/talker/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${alice.token}\r\nX-Auth-TenantId: ${alice.tenant}\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n${chunk}`,
      3_000,
    );
    expect(received).toMatch(/HTTP\/1\.1 400/);
    expect(received).toContain("this operation takes no request body");
    expect(received).not.toContain("tick");
    expect(received).not.toContain('"Names"');
  });

  it("reach an HTTP/1.0 client whole and without chunk framing", async () => {
    const received = await exchange(
      `GET /v1.41/containers/talker/logs?stdout=1&tail=1 HTTP/1.0\r\nX-Auth-Token: ${alice.token}\r\nX-Auth-TenantId: ${alice.tenant}\r\n\r\n`,
    );
    const [head, body] = received.split("\r\n\r\n", 2) as [string, string];
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head.toLowerCase()).not.toContain("transfer-encoding");
    // One multiplexed frame of "tick\n": stdout header then the line, nothing else.
    expect(body).toBe("\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0005tick\n");
  });

  it("free the container when the client hangs up mid-copy: a removal right after goes through", async () => {
    const big = await a(["run", "-d", "--name", "big", TEST_IMAGE, "sh", "-c", "head -c 50000000 /dev/zero > /big; sleep 1000"]);
    expect(big.code, big.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await new Promise<void>((resolve) => {
      const request = http.get({ host: "127.0.0.1", port: proxy.port, path: "/v1.41/containers/big/archive?path=/big", agent: false, headers: auth });
      request.on("error", () => resolve());
      request.on("response", (response) => {
        response.once("data", () => {
          request.destroy();
          resolve();
        });
      });
    });
    const removed = await a(["rm", "-f", "big"], { timeoutMs: 20_000 });
    expect(removed.code, removed.stderr).toBe(0);
  }, 60_000);
});
