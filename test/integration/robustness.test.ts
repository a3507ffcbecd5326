/**
 * Hostile and broken input, and restarts. Malformed JSON, wrong content types, oversized bodies,
 * unknown paths and fields, request smuggling shapes and raw garbage each get a clear error; the
 * proxy stays up and the engine is unchanged. A proxy restart in the middle loses nothing and
 * re-owns nothing, because ownership lives on the engine's objects.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, startEngine } from "../../scripts/harness/index.ts";
import { engineState } from "../support/engine-state.ts";
import { type TestProxy, asUser, startTestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

let engine: Engine;
let proxy: TestProxy;
const dir = testDir("robust");
const tokensFile = dir.file("tokens.json", [
  { token: "token-tenant-a", user: "alice", tenant: "tenant-a" },
  { token: "token-tenant-b", user: "bob", tenant: "tenant-b" },
]);
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const bob = tenantUser("bob", "tenant-b", "token-tenant-b");
const AUTH = "X-Auth-Token: token-tenant-a\r\nX-Auth-TenantId: tenant-a\r\n";

/** Sends raw bytes and returns everything the proxy answers until it closes (or a short wait). */
function raw(bytes: string | Buffer, waitMs = 1_500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.port, "127.0.0.1");
    let answer = "";
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
    socket.on("close", done);
    socket.on("error", done);
    socket.write(bytes);
    setTimeout(done, waitMs);
  });
}

async function post(path: string, body: string | Buffer, headers: Record<string, string> = { "content-type": "application/json" }) {
  const response = await fetch(`http://127.0.0.1:${proxy.port}${path}`, {
    method: "POST",
    headers: { "x-auth-token": "token-tenant-a", "x-auth-tenantid": "tenant-a", ...headers },
    body,
  });
  return { status: response.status, message: ((await response.json()) as { message: string }).message };
}

beforeAll(async () => {
  engine = await startEngine();
  proxy = await startTestProxy(engine, { BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokensFile, BERTH_MAX_BODY_BYTES: "262144" });
});

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

describe("malformed requests", () => {
  it.each([
    ["malformed JSON", '{"Image": ', { "content-type": "application/json" }, 400, "malformed JSON body"],
    ["a JSON body sent as text", JSON.stringify({ Image: TEST_IMAGE }), { "content-type": "text/plain" }, 400, "must be sent as application/json"],
    ["a form body (Go would merge it into the query)", "name=x", { "content-type": "application/x-www-form-urlencoded" }, 400, "not accepted"],
    ["an array body", "[1,2]", { "content-type": "application/json" }, 400, "must be an object"],
    ["an unknown field", JSON.stringify({ Image: TEST_IMAGE, Surprise: 1 }), { "content-type": "application/json" }, 400, "unknown field Surprise"],
    [
      "a privileged container",
      JSON.stringify({ Image: TEST_IMAGE, HostConfig: { Privileged: true } }),
      { "content-type": "application/json" },
      403,
      "HostConfig.Privileged",
    ],
    [
      "an oversized body",
      JSON.stringify({ Image: TEST_IMAGE, Env: ["X=" + "x".repeat(270_000)] }),
      { "content-type": "application/json" },
      413,
      "over the limit of 262144 bytes",
    ],
  ])("refuses %s with a clear error and creates nothing", async (_what, body, headers, status, message) => {
    const before = await engineState(engine);
    const answer = await post("/v1.41/containers/create?name=bad", body, headers);
    expect(answer.status).toBe(status);
    expect(answer.message).toContain(message);
    expect(await engineState(engine)).toBe(before);
  });

  it("refuses unknown paths, methods and query parameters", async () => {
    expect(await post("/v1.41/containers/json/extra", "")).toMatchObject({ status: 404 });
    const patch = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/json`, {
      method: "PATCH",
      headers: { "x-auth-token": "token-tenant-a", "x-auth-tenantid": "tenant-a" },
    });
    expect(patch.status).toBe(405);
    const query = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/json?all=1&sneaky=1`, {
      headers: { "x-auth-token": "token-tenant-a", "x-auth-tenantid": "tenant-a" },
    });
    expect(query.status).toBe(400);
    expect(((await query.json()) as { message: string }).message).toBe('unknown query parameter "sneaky" for ContainerList');
  });

  it("refuses a body on an operation that takes none", async () => {
    await asUser(proxy, alice)(["create", "--name", "bodyless", TEST_IMAGE, "sleep", "100"]);
    const answer = await post("/v1.41/containers/bodyless/start", JSON.stringify({ Privileged: true }));
    expect(answer).toEqual({ status: 400, message: "this operation takes no request body" });
    expect((await engine.api("GET", "/containers/tenant-a_bodyless/json")).body.State.Running).toBe(false);
  });

  it("answers smuggling shapes and garbage with 400 and stays up", async () => {
    const before = await engineState(engine);
    const both = await raw(
      `POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect(both).toMatch(/^HTTP\/1\.1 400/);
    const twoLengths = await raw(`POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 2\r\nContent-Length: 4\r\n\r\n{}{}`);
    expect(twoLengths).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw("\x16\x03\x01 definitely not http\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    const pipelined = await raw(
      `GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n${AUTH}\r\nGET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\nX-Auth-Token: token-tenant-b\r\nX-Auth-TenantId: tenant-a\r\n\r\n`,
    );
    expect(pipelined).toMatch(/^HTTP\/1\.1 200/);
    expect(pipelined).toContain("HTTP/1.1 401");
    expect(await engineState(engine)).toBe(before);
    expect((await asUser(proxy, alice)(["ps", "-a", "-q"])).code).toBe(0);
  });

  it("refuses a stream request without a fresh connection and an upgrade", async () => {
    const answer = await raw(
      `GET /_ping HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1.41/containers/bodyless/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 0\r\n\r\n`,
    );
    expect(answer).toContain("Upgrade: tcp header");
  });

  it("logs every refusal as one structured audit line", () => {
    const privileged = proxy.refusals.find((r) => r.refusal.object === "HostConfig.Privileged");
    expect(privileged).toMatchObject({ tenant: "tenant-a", user: "alice", operation: "ContainerCreate", refusal: { status: 403, reason: "host-restriction" } });
    expect(proxy.errors).toEqual([]);
  });
});

describe("connections that never send a whole request head", () => {
  /** Whether the proxy closes a connection that sent `bytes` and nothing more, within `waitMs`. */
  function closedByProxy(port: number, bytes: string, waitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, waitMs);
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.on("error", () => undefined);
      socket.resume();
      if (bytes !== "") socket.write(bytes);
    });
  }

  it("are closed after the head timeout: silent ones and slow ones alike, before any credentials", async () => {
    // Such connections are nobody's calls yet (no token read), so only a timeout bounds how many one client holds.
    const quick = await startTestProxy(engine, { BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokensFile, BERTH_HEADERS_TIMEOUT_MS: "1000" });
    try {
      const [silent, partial] = await Promise.all([
        closedByProxy(quick.port, "", 8_000),
        closedByProxy(quick.port, "GET /_ping HTTP/1.1\r\nHost: proxy\r\n", 8_000),
      ]);
      expect({ silent, partial }).toEqual({ silent: true, partial: true });
    } finally {
      await quick.stop();
    }
  });
});

describe("keys named like JavaScript's object members", () => {
  const KEYS = ["__proto__", "constructor", "hasOwnProperty", "toString", "valueOf", "isPrototypeOf", "__defineGetter__"];
  const send = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${proxy.port}/v1.41${path}`, {
      method,
      headers: { "x-auth-token": "token-tenant-a", "x-auth-tenantid": "tenant-a", ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, text: await response.text() };
  };
  // JSON.stringify drops a "__proto__" key set by a literal, so bodies are written as text.
  const withKey = (template: string, key: string) => template.replaceAll("KEY", key);
  const image = JSON.stringify(TEST_IMAGE);

  afterAll(async () => {
    const a = asUser(proxy, alice);
    const lines = (result: { stdout: string }) => result.stdout.split("\n").filter(Boolean);
    const containers = lines(await a(["ps", "-aq"]));
    if (containers.length > 0) await a(["rm", "-f", ...containers]);
    const volumes = lines(await a(["volume", "ls", "-q"]));
    if (volumes.length > 0) await a(["volume", "rm", ...volumes]);
    const networks = lines(await a(["network", "ls", "-q", "--filter", "type=custom"]));
    if (networks.length > 0) await a(["network", "rm", ...networks]);
  });

  it.each(KEYS)("%s: each place answers as for any other key, never a 500", async (key) => {
    const places: [string, string, string, string | undefined, number, RegExp?][] = [
      ["a create body's top level", "POST", "/containers/create", `{"Image":${image},"KEY":{}}`, 400, /unknown field KEY/],
      ["HostConfig", "POST", "/containers/create", `{"Image":${image},"HostConfig":{"KEY":{}}}`, 400, /unknown field HostConfig\.KEY/],
      [
        "an endpoint's network",
        "POST",
        "/containers/create",
        `{"Image":${image},"NetworkingConfig":{"EndpointsConfig":{"KEY":{}}}}`,
        404,
        /network KEY not found/,
      ],
      ["a container label", "POST", "/containers/create", `{"Image":${image},"Labels":{"KEY":"v"}}`, 201],
      ["a label on a volume", "POST", "/volumes/create", `{"Name":"vol-${key}","Labels":{"KEY":"v"}}`, 201],
      ["a volume driver option", "POST", "/volumes/create", `{"Name":"opt-${key}","DriverOpts":{"KEY":"x"}}`, 403, /DriverOpts/],
      ["a network option", "POST", "/networks/create", `{"Name":"net-${key}","Options":{"KEY":"x"}}`, 403, /Options/],
      ["a label on a network", "POST", "/networks/create", `{"Name":"lab-${key}","Labels":{"KEY":"v"}}`, 201],
      ["a filter name", "GET", `/containers/json?filters=${encodeURIComponent('{"KEY":["x"]}')}`, undefined, 400, /invalid filter 'KEY'/],
      ["a label filter", "GET", `/containers/json?filters=${encodeURIComponent('{"label":{"KEY":true}}')}`, undefined, 200],
      ["an update field", "POST", "/containers/keyed/update", `{"KEY":1}`, 400, /unknown field KEY/],
      ["an exec field", "POST", "/containers/keyed/exec", `{"Cmd":["true"],"KEY":1}`, 400, /unknown field KEY/],
      ["a volume name", "GET", `/volumes/${encodeURIComponent(key)}`, undefined, 404],
      ["a network name", "GET", `/networks/${encodeURIComponent(key)}`, undefined, 404],
      ["a container name", "GET", `/containers/${encodeURIComponent(key)}/json`, undefined, 404],
    ];
    if ((await send("GET", "/containers/keyed/json")).status === 404) {
      expect((await asUser(proxy, alice)(["run", "-d", "--name", "keyed", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
    }
    const answers = [];
    for (const [where, method, path, body, status, message] of places) {
      const answer = await send(method, withKey(path, encodeURIComponent(key)), body === undefined ? undefined : withKey(body, key));
      answers.push({ where, status: answer.status, text: answer.text.trim(), expected: status, message: message && new RegExp(withKey(message.source, key)) });
    }
    for (const { where, status, text, expected, message } of answers) {
      expect(status, `${key} in ${where}: ${text}`).toBe(expected);
      if (message) expect(text, `${key} in ${where}`).toMatch(message);
    }
    expect(proxy.errors).toEqual([]);
  });

  it("a label named like an object member is the tenant's own, shown as given", async () => {
    const created = await send("POST", "/containers/create?name=labelled", `{"Image":${image},"Labels":{"constructor":"c","__proto__":"p","toString":"t"}}`);
    expect(created.status, created.text).toBe(201);
    const inspected = await send("GET", "/containers/labelled/json");
    expect(JSON.parse(inspected.text).Config.Labels).toEqual(JSON.parse('{"constructor":"c","__proto__":"p","toString":"t"}'));
    const listed = await send("GET", `/containers/json?all=1&filters=${encodeURIComponent('{"label":["constructor=c"]}')}`);
    expect(JSON.parse(listed.text).map((c: { Names: string[] }) => c.Names[0])).toEqual(["/labelled"]);
  });
});

describe("deeply nested JSON", () => {
  it("is refused with a 400 that says so, in a body and in a filters query", async () => {
    const depth = 100_000;
    const body = `{"Image":${JSON.stringify(TEST_IMAGE)},"Cmd":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    const before = await engineState(engine);
    const answer = await post("/v1.41/containers/create?name=deep", body);
    expect(answer.status).toBe(400);
    expect(answer.message).toMatch(/nested deeper than \d+ levels/);
    const filters = encodeURIComponent(`{"label":${"[".repeat(3000)}${"]".repeat(3000)}}`);
    const listed = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/containers/json?filters=${filters}`, {
      headers: { "x-auth-token": "token-tenant-a", "x-auth-tenantid": "tenant-a" },
    });
    expect(listed.status).toBe(400);
    expect(await engineState(engine)).toBe(before);
    expect(proxy.errors).toEqual([]);
  });
});

describe("a proxy restart in the middle", () => {
  it("loses nothing and re-owns nothing", async () => {
    const a = asUser(proxy, alice);
    const b = asUser(proxy, bob, "docker20");
    expect((await a(["run", "-d", "--name", "survivor", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
    expect((await b(["network", "create", "b-net"])).code).toBe(0);
    expect((await b(["volume", "create", "b-vol"])).code).toBe(0);
    const before = await engineState(engine);
    await proxy.restart();
    expect(await engineState(engine)).toBe(before);
    expect((await a(["ps", "--format", "{{.Names}}"])).stdout.trim()).toBe("survivor");
    expect((await b(["ps", "-a", "-q"])).stdout).toBe("");
    expect((await b(["network", "ls", "--format", "{{.Name}}", "--filter", "name=b-net"])).stdout.trim()).toBe("b-net");
    expect((await a(["volume", "ls", "-q"])).stdout).toBe("");
    expect((await b(["rm", "survivor"])).stderr).toContain("No such container: survivor");
    expect((await a(["rm", "-f", "survivor"])).code).toBe(0);
  });
});
