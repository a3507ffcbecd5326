/**
 * A tenant choosing the Engine API version its calls are served at, on a real engine and proxy. The
 * proxy judges every call by v1.41 (http/api-version.ts); an engine serves a path without a version
 * at its own newest version, which on an engine newer than 20.10 (Docker 26: 1.45) is behaviour and
 * fields nobody has judged. So the engine must only ever be asked versioned paths, and odd version
 * strings must be refused, not read as another version.
 */
import { readFileSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, TEST_IMAGE, startEngine } from "../../scripts/harness/index.ts";
import { type TestProxy, asUser, startTestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("api-version-attacks");
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const env = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file("tokens.json", [{ token: alice.token, user: "alice", tenant: alice.tenant }]),
};
const headers = { "x-auth-token": alice.token, "x-auth-tenantid": alice.tenant };

let engine: Engine;
let proxy: TestProxy;

/** Where the engine's log stood when the proxy started: the harness's own calls (its image load, by
 * the docker CLI at the engine's newest version) come before it. */
let proxyStartInLog: number;

/** The paths of the calls the engine answered since the proxy started (dockerd --debug logs "Calling METHOD PATH"). */
const engineCalls = (): string[] =>
  readFileSync(engine.logFile)
    .subarray(proxyStartInLog)
    .toString("utf8")
    .split("\n")
    .flatMap((line) => /Calling (?:GET|POST|HEAD|DELETE|PUT) ([^\s"]+)/.exec(line)?.[1] ?? []);

beforeAll(async () => {
  engine = await startEngine({ extraArgs: ["--debug"] });
  proxyStartInLog = statSync(engine.logFile).size;
  proxy = await startTestProxy(engine, env);
  const run = await asUser(proxy, alice)(["run", "-d", "--name", "talker", TEST_IMAGE, "sh", "-c", "echo tick; sleep 600"]);
  expect(run.code, run.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await engine?.stop();
});

describe("a call without an API version in its path", () => {
  it("reaches the engine at v1.41, the version the proxy judged it by", async () => {
    const paths = ["/containers/json", "/containers/talker/json", "/containers/talker/logs?stdout=1", "/version"];
    for (const path of paths) expect((await fetch(`http://127.0.0.1:${proxy.port}${path}`, { headers })).status, path).toBe(200);
    const calls = engineCalls();
    expect(calls.filter((path) => path.startsWith("/v1.41/containers/")).length).toBeGreaterThan(0);
    const unversioned = calls.filter((path) => !path.startsWith("/v1.41/") && !path.startsWith("/_ping"));
    expect(unversioned).toEqual([]);
  });
});

describe("odd API versions", () => {
  it("are refused when newer or malformed, not read as another version", async () => {
    for (const version of ["v01.42", "v1.042", "v1.00000000000000000042", "v99999999999999999999.0", "v1.99999999999999999999"]) {
      const answer = await fetch(`http://127.0.0.1:${proxy.port}/${version}/containers/json`, { headers });
      expect(answer.status, version).toBe(400);
      expect(((await answer.json()) as { message: string }).message, version).toContain("is too new");
    }
    // Malformed: refused as such, or read as an unknown path, never served.
    for (const version of ["v1.41.0", "v1.4e1", "v1.-1", "v1", "v.41", "v1.41%00", "V1.41", "v1.41 "]) {
      const answer = await fetch(`http://127.0.0.1:${proxy.port}/${encodeURI(version)}/containers/json`, { headers });
      expect([400, 404], version).toContain(answer.status);
    }
  });
});
