/**
 * Runs the tenant proxy in the test process, configured through the same environment variables an
 * operator sets, in front of a harness engine, and records its audit lines so tests can check what
 * was refused and why. Tenants get real docker config dirs (`HttpHeaders` with their token and
 * tenant id) and drive the proxy with the stock docker CLIs.
 */
import { writeDockerConfig } from "../../scripts/lib/docker-config.ts";
import { join } from "node:path";
import type { AuditLog, RefusalRecord } from "../../tenant-proxy/src/audit.ts";
import { type RunningProxy, startProxy } from "../../tenant-proxy/src/main.ts";
import { readSettings } from "../../tenant-proxy/src/settings.ts";
import { testDir } from "./test-dir.ts";
import { type CommandResult, type DockerCli, type Engine, type Keystone, runDocker, testSandbox } from "../../scripts/harness/index.ts";
import { sandboxProxySettings } from "../../infra/sandbox.ts";

export interface TestProxy {
  /** `tcp://127.0.0.1:<port>` for the docker CLI. */
  host: string;
  port: number;
  refusals: RefusalRecord[];
  errors: string[];
  /** Stops and starts it again on the same port with the same settings. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function capturingAudit(refusals: RefusalRecord[], errors: string[]): AuditLog {
  return {
    refusal: (record) => refusals.push(record),
    error: (message, details) => errors.push(`${message} ${JSON.stringify(details ?? {})}`),
    info: () => undefined,
  };
}

/** The proxy settings of the run's sandbox (BERTH_TEST_SANDBOX), as a stack renders them into proxy.env. */
export function sandboxProxyEnv(): Record<string, string> {
  const { tenantRuntime, volumeOwner } = sandboxProxySettings(testSandbox());
  return { ...(tenantRuntime ? { BERTH_TENANT_RUNTIME: tenantRuntime } : {}), ...(volumeOwner ? { BERTH_VOLUME_OWNER: volumeOwner } : {}) };
}

/**
 * A proxy in front of one engine, or of the cluster `env` names (BERTH_NODES_FILE) when `engine` is
 * undefined, with the run's sandbox settings unless `env` gives its own.
 */
export async function startTestProxy(engine: Engine | undefined, env: Record<string, string>): Promise<TestProxy> {
  const refusals: RefusalRecord[] = [];
  const errors: string[] = [];
  let settings = readSettings({
    BERTH_LISTEN: "127.0.0.1:0",
    ...(engine ? { BERTH_UPSTREAM: `unix://${engine.socketPath}` } : {}),
    ...sandboxProxyEnv(),
    ...env,
  });
  let running: RunningProxy = await startProxy(settings, capturingAudit(refusals, errors));
  const port = running.address.port;
  settings = { ...settings, listen: { host: "127.0.0.1", port } };
  return {
    host: `tcp://127.0.0.1:${port}`,
    port,
    refusals,
    errors,
    restart: async () => {
      await running.stop();
      running = await startProxy(settings, capturingAudit(refusals, errors));
    },
    stop: () => running.stop(),
  };
}

/** A tenant user as the docker CLI sees it: a config dir whose HttpHeaders identify it. */
export interface TenantUser {
  name: string;
  tenant: string;
  token: string;
  configDir: string;
}

const configRoot = testDir("tenants").path;

export function tenantUser(name: string, tenant: string, token: string): TenantUser {
  const configDir = join(configRoot, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  writeDockerConfig(configDir, { token, tenantId: tenant });
  return { name, tenant, token, configDir };
}

/** The transcript's cast in a real Keystone: two tenants, three users, and an admin tenant. */
export interface Cast {
  user1: TenantUser;
  user2: TenantUser;
  user3: TenantUser;
  admin: TenantUser;
  /** Environment for a Keystone-backed proxy with this cast's admin tenant. */
  env: Record<string, string>;
}

export async function keystoneCast(keystone: Keystone, suffix = Math.random().toString(36).slice(2, 8)): Promise<Cast> {
  const [tenant1, tenant2, adminTenant] = await Promise.all([
    keystone.createProject(`docker-tenant-1-${suffix}`),
    keystone.createProject(`docker-tenant-2-${suffix}`),
    keystone.createProject(`docker-admin-${suffix}`),
  ]);
  const password = "secret-password";
  const users = [
    [`docker-user-1-${suffix}`, tenant1],
    [`docker-user-2-${suffix}`, tenant2],
    [`docker-user-3-${suffix}`, tenant2],
    [`docker-admin-${suffix}`, adminTenant],
  ] as const;
  await Promise.all(users.map(([name, project]) => keystone.createUser(name, password, [project])));
  const [user1, user2, user3, admin] = await Promise.all(
    users.map(async ([name, project]) => tenantUser(name, project, (await keystone.issueToken(name, password, project)).token)),
  );
  return {
    user1: user1!,
    user2: user2!,
    user3: user3!,
    admin: admin!,
    env: { BERTH_AUTH_BACKEND: "keystone", SWARM_KEYSTONE_URL: `${keystone.url}/v3`, SWARM_ADMIN_TENANT_ID: adminTenant },
  };
}

/** The docker CLI as a tenant user, through the proxy. */
export function asUser(proxy: TestProxy, user: TenantUser, cli: DockerCli = "docker28") {
  return (args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<CommandResult> =>
    runDocker(cli, args, { host: proxy.host, configDir: user.configDir, ...opts });
}
