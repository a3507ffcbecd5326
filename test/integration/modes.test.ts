/**
 * The proxy's other modes against a real engine: HTTPS with a certificate made by openssl (the
 * docker CLI verifying it against its CA), and shared networks (SWARM_NETWORK_AUTHORIZATION=false),
 * where tenants share network names but still own their containers.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, PING_IMAGE, TEST_IMAGE, importPingImage, runCommand, runDocker, startEngine } from "../../scripts/harness/index.ts";
import { asUser, startTestProxy, tenantUser } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("modes");
const tokensFile = dir.file("tokens.json", [
  { token: "token-tenant-a", user: "alice", tenant: "tenant-a" },
  { token: "token-tenant-b", user: "bob", tenant: "tenant-b" },
]);
const alice = tenantUser("alice", "tenant-a", "token-tenant-a");
const bob = tenantUser("bob", "tenant-b", "token-tenant-b");
const staticAuth = { BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokensFile };
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine();
  await importPingImage(engine);
});
afterAll(async () => {
  await engine?.stop();
});

describe("HTTPS (BERTH_TLS_CERT, BERTH_TLS_KEY)", () => {
  it("serves the docker CLI over verified TLS and refuses plain HTTP", async () => {
    const cert = join(dir.path, "cert.pem");
    const key = join(dir.path, "key.pem");
    const made = await runCommand([
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      key,
      "-out",
      cert,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const proxy = await startTestProxy(engine, { ...staticAuth, BERTH_TLS_CERT: cert, BERTH_TLS_KEY: key });
    try {
      const tls = await runDocker("docker28", ["--tlsverify", "--tlscacert", cert, "run", "--rm", TEST_IMAGE, "echo", "over-tls"], {
        host: proxy.host,
        configDir: alice.configDir,
      });
      expect(tls.stdout, tls.stderr).toBe("over-tls\n");
      const plain = await runDocker("docker28", ["ps"], { host: proxy.host, configDir: alice.configDir });
      expect(plain.code).not.toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});

describe("shared networks (SWARM_NETWORK_AUTHORIZATION=false)", () => {
  it("lets tenants share a network by name while containers stay owned", async () => {
    const proxy = await startTestProxy(engine, { ...staticAuth, SWARM_NETWORK_AUTHORIZATION: "false" });
    try {
      const a = asUser(proxy, alice);
      const b = asUser(proxy, bob);
      expect((await a(["network", "create", "commons"])).code).toBe(0);
      expect((await b(["network", "ls", "--format", "{{.Name}}", "--filter", "name=commons"])).stdout.trim()).toBe("commons");
      expect((await a(["run", "-d", "--name", "server", "--network", "commons", TEST_IMAGE, "sleep", "1000"])).code).toBe(0);
      const ping = await b(["run", "--rm", "--network", "commons", PING_IMAGE, "ping", "-c", "1", "-W", "2", "server"]);
      expect(ping.stdout).toContain("1 received");
      expect((await b(["network", "inspect", "-f", "{{len .Containers}}", "commons"])).stdout.trim()).toBe("0");
      expect((await b(["rm", "server"])).stderr).toContain("No such container: server");
      expect((await a(["rm", "-f", "server"])).code).toBe(0);
      expect((await engine.api("GET", "/networks/commons")).status).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});
