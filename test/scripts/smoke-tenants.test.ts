/**
 * smoke:tenants run as an operator runs it (a child process with the stock docker CLI and
 * docker-compose) against a real cluster: two engines joined through etcd, volumes on the NFS
 * export, and the proxy in front with static tokens for the transcript's three users. Over TLS
 * verified with a CA made here it must pass and leave nothing behind on the engines; against the
 * same cluster with isolation off (SWARM_MULTI_TENANT=false) it must fail, with the isolation row
 * red, and still clean up: proof that it can fail.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTls } from "../../scripts/local-cluster/secrets.ts";
import { type CommandResult, TEST_IMAGE, runCommand } from "../../scripts/harness/index.ts";
import { type TestCluster, startTestCluster } from "../support/cluster.ts";
import { type TestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = testDir("smoke-tenants");
const users = [
  tenantUser("docker-user-1", "docker-tenant-1", "token-user-1"),
  tenantUser("docker-user-2", "docker-tenant-2", "token-user-2"),
  tenantUser("docker-user-3", "docker-tenant-2", "token-user-3"),
];
const staticAuth = {
  BERTH_AUTH_BACKEND: "static",
  BERTH_TOKENS_FILE: dir.file(
    "tokens.json",
    users.map((u) => ({ token: u.token, user: u.name, tenant: u.tenant })),
  ),
};

let cluster: TestCluster;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  cluster = await startTestCluster([[], []]);
}, 120_000);

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.stop()));
  await cluster?.stop();
});

function smokeTenants(host: string, extra: string[] = []): Promise<CommandResult> {
  const [user1, user2, user3] = users.map((u) => u.configDir);
  return runCommand(
    [
      join(ROOT, "node_modules/.bin/tsx"),
      join(ROOT, "scripts/smoke-tenants.ts"),
      "--tenant1",
      user1!,
      "--tenant2",
      user2!,
      "--tenant2-member",
      user3!,
      "--host",
      host,
      "--image",
      TEST_IMAGE,
      ...extra,
    ],
    { cwd: ROOT, timeoutMs: 150_000, env: { DOCKER_HOST: "", DOCKER_TLS_VERIFY: "", DOCKER_CERT_PATH: "" } },
  );
}

/** The table rows (CHECK, HOST, RESULT) of the script's summary, as printed. */
function tableRow(stdout: string, check: string): string | undefined {
  const table = stdout.slice(stdout.lastIndexOf("\nCHECK "));
  return table.split("\n").find((line) => line.startsWith(check));
}

/** Containers, networks and volumes of the run still on the engines, asked directly. */
async function leftOnEngines(stdout: string): Promise<string[]> {
  const prefix = /run prefix (smoke[0-9a-f]+)/.exec(stdout)?.[1];
  expect(prefix, stdout).toBeDefined();
  const lists = await Promise.all(
    cluster.engines.flatMap((engine) =>
      [
        ["ps", "-a", "--format", "{{.Names}}"],
        ["network", "ls", "--format", "{{.Name}}"],
        ["volume", "ls", "--format", "{{.Name}}"],
      ].map(async (args) => (await engine.docker(args)).stdout),
    ),
  );
  return lists.flatMap((list) => list.split("\n")).filter((name) => name.includes(prefix!));
}

describe("smoke:tenants", () => {
  it("passes against an isolating cluster over verified TLS, and removes what it made", async () => {
    const tls = await makeTls(join(dir.path, "tls"), "127.0.0.1");
    const proxy = await cluster.startProxy({ ...staticAuth, BERTH_TLS_CERT: tls.certFile, BERTH_TLS_KEY: tls.keyFile });
    proxies.push(proxy);
    const result = await smokeTenants(proxy.host, ["--ca", tls.caFile]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/\n\d+ checks, all passed\n/);
    for (const check of [
      "isolation: each tenant sees only its own",
      "overlay: the two reach each other by name",
      "compose: up --scale web=3",
      "refused: --privileged",
    ]) {
      expect(tableRow(result.stdout, check)).toMatch(/\sok\s/);
    }
    expect(await leftOnEngines(result.stdout)).toEqual([]);
  }, 160_000);

  it("fails, with the isolation row red, when the proxy does not isolate tenants", async () => {
    const proxy = await cluster.startProxy({ SWARM_MULTI_TENANT: "false", BERTH_AUTH_BACKEND: "none" });
    proxies.push(proxy);
    const result = await smokeTenants(proxy.host);
    expect(result.code, result.stdout).toBe(1);
    expect(tableRow(result.stdout, "isolation: each tenant sees only its own")).toMatch(/\sFAIL\s/);
    expect(tableRow(result.stdout, "refused: --privileged")).toMatch(/\sFAIL\s/);
    expect(result.stdout).toMatch(/\n\d+ checks, \d+ failed: .*isolation/);
    expect(await leftOnEngines(result.stdout)).toEqual([]);
  }, 160_000);
});
