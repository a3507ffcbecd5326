/**
 * scripts/docker-config as a user runs it: a child process against the run's real Keystone, with
 * credentials from flags, OS_* variables, clouds.yaml (in the working directory or named by
 * OS_CLIENT_CONFIG_FILE) and an application credential made through Keystone's API. A written
 * config counts only if Keystone validates its token and X-Auth-TenantId is the token's project;
 * refusals must exit 1 with a message naming the cause and leave config.json byte for byte as it
 * was. Each run gets a HOME of its own and blanked OS_* variables, so nothing of the machine leaks in.
 * Last, the stock docker CLI uses a written config dir through a Keystone-backed tenant proxy.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CommandResult,
  type Engine,
  type Keystone,
  freeLoopbackPort,
  runCommand,
  runDocker,
  sharedKeystone,
  startEngine,
} from "../../scripts/harness/index.ts";
import { type TestProxy, startTestProxy } from "../support/proxy.ts";
import { testDir } from "../support/test-dir.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/docker-config.ts", import.meta.url));
const TSX = pathToFileURL(fileURLToPath(new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url))).href;
const PASSWORD = "docker-config-password";

const dir = testDir("docker-config");
let keystone: Keystone;
let suffix: string;
let projectId: string;
let projectName: string;
let userName: string;
let userId: string;

beforeAll(async () => {
  keystone = sharedKeystone();
  suffix = Math.random().toString(36).slice(2, 8);
  projectName = `dc-tenant-${suffix}`;
  userName = `dc-user-${suffix}`;
  projectId = await keystone.createProject(projectName);
  userId = await keystone.createUser(userName, PASSWORD, [projectId]);
});

/** Runs the CLI in `cwd` with only the given OS_* variables and a HOME of its own. */
function dockerConfig(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<CommandResult> {
  const blanked = Object.fromEntries(
    Object.keys(process.env)
      .filter((name) => name.startsWith("OS_") || name === "DOCKER_CONFIG")
      .map((name) => [name, ""]),
  );
  const cwd = opts.cwd ?? dir.path;
  return runCommand([process.execPath, "--import", TSX, SCRIPT, ...args], {
    cwd,
    env: { ...blanked, HOME: join(dir.path, "home"), ...opts.env },
    timeoutMs: 30_000,
  });
}

/** Writes `name` under a subdirectory of the test dir, creating the subdirectory. */
function fileIn(subdirectory: string, name: string, content: unknown): string {
  mkdirSync(join(dir.path, subdirectory), { recursive: true });
  return dir.file(join(subdirectory, name), content);
}

function readConfig(configDir: string): any {
  return JSON.parse(readFileSync(join(configDir, "config.json"), "utf8"));
}

/** Keystone's own word on the written headers: the token validates and is scoped to X-Auth-TenantId. */
async function expectValidFor(configDir: string, expectedProjectId: string): Promise<void> {
  const headers = readConfig(configDir).HttpHeaders;
  expect(headers["X-Auth-TenantId"]).toBe(expectedProjectId);
  const response = await fetch(`${keystone.url}/v3/auth/tokens`, {
    headers: { "X-Auth-Token": await keystone.adminToken(), "X-Subject-Token": headers["X-Auth-Token"] },
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as any;
  expect(body.token.project.id).toBe(expectedProjectId);
}

function expectSucceeded(result: CommandResult): void {
  expect(result.stderr, result.stdout).toBe("");
  expect(result.code).toBe(0);
}

async function createApplicationCredential(name: string): Promise<{ id: string; secret: string }> {
  const { token } = await keystone.issueToken(userName, PASSWORD, projectId);
  const response = await fetch(`${keystone.url}/v3/users/${userId}/application_credentials`, {
    method: "POST",
    headers: { "X-Auth-Token": token, "Content-Type": "application/json" },
    body: JSON.stringify({ application_credential: { name } }),
  });
  expect(response.status).toBe(201);
  const { application_credential: credential } = (await response.json()) as any;
  return { id: credential.id, secret: credential.secret };
}

describe("scripts/docker-config", () => {
  it("writes a working config from flags, copies the TLS files and says for whom and until when", async () => {
    const configDir = join(dir.path, "flags");
    const tls = ["--tls-ca", dir.file("ca.crt", "CA"), "--tls-cert", dir.file("client.crt", "CERT"), "--tls-key", dir.file("client.key", "KEY")];
    const result = await dockerConfig([
      "--config-dir",
      configDir,
      "--auth-url",
      `${keystone.url}/v3`,
      "--username",
      userName,
      "--password",
      PASSWORD,
      "--user-domain",
      "Default",
      "--project-name",
      projectName,
      "--project-domain",
      "Default",
      ...tls,
    ]);
    expectSucceeded(result);
    await expectValidFor(configDir, projectId);
    expect(result.stdout).toContain(`user           ${userName}`);
    expect(result.stdout).toContain(`project        ${projectName} (${projectId})`);
    expect(result.stdout).toContain(`config         ${join(configDir, "config.json")}`);
    expect(result.stdout).toMatch(/token expires  \d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+ h \d+ min\)/);
    expect(statSync(join(configDir, "config.json")).mode & 0o777).toBe(0o600);
    expect(["ca.pem", "cert.pem", "key.pem"].map((name) => readFileSync(join(configDir, name), "utf8"))).toEqual(["CA", "CERT", "KEY"]);
  });

  it("takes an openrc's OS_* variables and merges into an existing config, keeping its other keys and headers", async () => {
    const configDir = join(dir.path, "env");
    const existing = {
      auths: { "registry.example:5000": { auth: "dTpw" } },
      psFormat: "table {{.Names}}",
      HttpHeaders: { "X-Meta": "kept", "X-Auth-Token": "stale" },
    };
    fileIn("env", "config.json", existing);
    const env = { OS_AUTH_URL: keystone.url, OS_USERNAME: userName, OS_PASSWORD: PASSWORD, OS_PROJECT_ID: projectId, OS_USER_DOMAIN_NAME: "Default" };
    expectSucceeded(await dockerConfig(["--config-dir", configDir], { env }));
    await expectValidFor(configDir, projectId);
    const config = readConfig(configDir);
    expect(config.auths).toEqual(existing.auths);
    expect(config.psFormat).toBe(existing.psFormat);
    expect(config.HttpHeaders["X-Meta"]).toBe("kept");
    expect(config.HttpHeaders["X-Auth-Token"]).not.toBe("stale");
  });

  it("reads the cloud named by --os-cloud from ./clouds.yaml, with a flag overriding its password", async () => {
    const cwd = join(dir.path, "cwd-clouds");
    const cloud = {
      auth_url: keystone.url,
      username: userName,
      password: "not-the-password",
      project_name: projectName,
      user_domain_name: "Default",
      project_domain_name: "Default",
    };
    fileIn("cwd-clouds", "clouds.yaml", `clouds:\n  berth:\n    auth: ${JSON.stringify(cloud)}\n  other:\n    auth: {}\n`);
    const configDir = join(cwd, "docker");
    const result = await dockerConfig(["--os-cloud", "berth", "--password", PASSWORD, "--config-dir", configDir], { cwd });
    expectSucceeded(result);
    expect(result.stdout).toContain(`==> Using cloud "berth" of ${join(cwd, "clouds.yaml")}`);
    await expectValidFor(configDir, projectId);
  });

  it("gets a token from an application credential, in clouds.yaml named by OS_CLIENT_CONFIG_FILE and in OS_* variables", async () => {
    const credential = await createApplicationCredential(`dc-${suffix}`);
    const cloudsFile = dir.file(
      "app-clouds.yaml",
      `clouds:\n  berth:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: ${keystone.url}/v3/\n      application_credential_id: ${credential.id}\n      application_credential_secret: ${credential.secret}\n`,
    );
    const fromCloud = join(dir.path, "app-cloud");
    expectSucceeded(await dockerConfig(["--config-dir", fromCloud], { env: { OS_CLIENT_CONFIG_FILE: cloudsFile, OS_CLOUD: "berth" } }));
    await expectValidFor(fromCloud, projectId);

    const fromEnv = join(dir.path, "app-env");
    const env = {
      OS_AUTH_URL: keystone.url,
      OS_AUTH_TYPE: "v3applicationcredential",
      OS_APPLICATION_CREDENTIAL_ID: credential.id,
      OS_APPLICATION_CREDENTIAL_SECRET: credential.secret,
    };
    const result = await dockerConfig(["--config-dir", fromEnv], { env });
    expectSucceeded(result);
    expect(result.stdout).toContain(`user           ${userName}`);
    await expectValidFor(fromEnv, projectId);
  });

  it("refuses a wrong password with exit 1 and a message, leaving config.json byte for byte as it was", async () => {
    const configDir = join(dir.path, "bad-password");
    const before = `{"auths":{},"HttpHeaders":{"X-Auth-Token":"keep-me"}}`;
    fileIn("bad-password", "config.json", before);
    const result = await dockerConfig([
      "--config-dir",
      configDir,
      "--auth-url",
      keystone.url,
      "--username",
      userName,
      "--password",
      "wrong",
      "--project-id",
      projectId,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Keystone refused the credentials of "${userName}" (401): wrong user name, domain or password`);
    expect(result.stderr).toContain("config.json was left unchanged");
    expect(readFileSync(join(configDir, "config.json"), "utf8")).toBe(before);
  });

  it("says when the user cannot have the project, and writes nothing", async () => {
    const configDir = join(dir.path, "unknown-project");
    const result = await dockerConfig([
      "--config-dir",
      configDir,
      "--auth-url",
      keystone.url,
      "--username",
      userName,
      "--password",
      PASSWORD,
      "--project-name",
      `no-such-${suffix}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `the user "${userName}" cannot get a token for project "no-such-${suffix}": the project does not exist or the user has no role on it`,
    );
    expect(existsSync(configDir)).toBe(false);
  });

  it("names an unreachable Keystone and missing settings", async () => {
    const port = await freeLoopbackPort();
    const unreachable = await dockerConfig([
      "--config-dir",
      join(dir.path, "unreachable"),
      "--auth-url",
      `http://127.0.0.1:${port}`,
      "--username",
      "u",
      "--password",
      "p",
      "--project-id",
      "x",
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(`Keystone at http://127.0.0.1:${port}/v3/auth/tokens is unreachable: connect ECONNREFUSED`);

    const missing = await dockerConfig(["--username", "u"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing settings:\n {2}- the Keystone auth URL.*\n {2}- a password.*\n {2}- a project/);
    expect(existsSync(join(dir.path, "home", ".docker"))).toBe(false);
  });
});

describe("a config written by scripts/docker-config", () => {
  let engine: Engine | undefined;
  let proxy: TestProxy | undefined;

  afterAll(async () => {
    await proxy?.stop();
    await engine?.stop();
  });

  it("lets the stock docker CLI in through a Keystone-backed tenant proxy", async () => {
    const adminTenant = await keystone.createProject(`dc-admin-${suffix}`);
    engine = await startEngine({ images: false });
    proxy = await startTestProxy(engine, { BERTH_AUTH_BACKEND: "keystone", SWARM_KEYSTONE_URL: `${keystone.url}/v3`, SWARM_ADMIN_TENANT_ID: adminTenant });
    const configDir = join(dir.path, "through-proxy");
    expectSucceeded(
      await dockerConfig([
        "--config-dir",
        configDir,
        "--auth-url",
        keystone.url,
        "--username",
        userName,
        "--password",
        PASSWORD,
        "--project-name",
        projectName,
      ]),
    );
    const ps = await runDocker("docker28", ["ps", "-a", "--format", "{{.ID}}"], { host: proxy.host, configDir });
    expect(ps.stderr).toBe("");
    expect(ps.code).toBe(0);
    expect(proxy.refusals).toEqual([]);
  });
});
