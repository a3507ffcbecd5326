/**
 * A real Keystone (Debian's, v3 only) so the proxy's identity code meets the tokens, expiry and
 * revocation of the real thing. Each instance has its own config file (sqlite, fernet keys, cheap
 * password hashing, its own log), given to `keystone-manage --config-file` and to the WSGI app via
 * OS_KEYSTONE_CONFIG_FILES, so nothing under /etc/keystone or /var/log/keystone is read or written.
 * It is served by uwsgi on loopback (the local cluster: on a host namespace's address, with
 * long-lived tokens) with one process and one thread: with more threads on sqlite a revocation
 * fails with "database is locked" and the worker hangs. An instance's whole state lives in its
 * directory and is described by a small JSON state, so a test file in a worker process can
 * rebuild a handle to the run's shared instance, and stop() and start() it (an outage) on the same
 * URL: the fernet keys stay, so tokens issued before the outage still validate after it.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { runChecked } from "./commands.ts";
import { freeLoopbackPort, jsonRequest, type JsonResponse } from "./http.ts";
import { readEntry, record } from "./ledger.ts";
import { isRunning, spawnDaemon, waitFor } from "./processes.ts";
import { release } from "./release.ts";
import { currentRun, readRunFile, writeRunFile, type Run } from "./run.ts";

const READY_TIMEOUT_MS = 90_000;
const SHARED_STATE_FILE = "keystone.json";
const DEFAULT_DOMAIN = { id: "default" };
const ADMIN = { user: "admin", project: "admin" };

export interface Keystone {
  /** "http://127.0.0.1:<port>"; the API is under /v3. */
  url: string;
  /** A project-scoped token of the bootstrap admin. */
  adminToken(): Promise<string>;
  /** Creates a project in the default domain; returns its id. Names must be unique: suffix them. */
  createProject(name: string): Promise<string>;
  /** Creates a user in the default domain with role "member" on each project; returns its id. */
  createUser(name: string, password: string, projectIds: string[]): Promise<string>;
  /** Password authentication by user name; project-scoped when projectId is given, else unscoped. */
  issueToken(user: string, password: string, projectId?: string): Promise<IssuedToken>;
  /** DELETE /v3/auth/tokens: the token stops validating at once. */
  revokeToken(token: string): Promise<void>;
  /** Ends the server (an outage); the data stays. */
  stop(): Promise<void>;
  /** Serves again on the same URL with the same data; resolves when it answers. */
  start(): Promise<void>;
}

export interface IssuedToken {
  token: string;
  expiresAt: string;
  projectId?: string;
  userId: string;
}

/** Where an instance serves and how long its tokens live; tests take the defaults. */
export interface KeystoneOptions {
  /** Serve inside this network namespace (on `host`, which must be one of its addresses). */
  netns?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: a free loopback port. */
  port?: number;
  /** [token] expiration; Keystone's default is one hour. */
  tokenExpirationSeconds?: number;
}

/** Everything needed to drive an instance from any process of the run. */
interface KeystoneState {
  runDir: string;
  url: string;
  host: string;
  port: number;
  netns?: string;
  dir: string;
  configFile: string;
  adminPassword: string;
  /** The ledger entry of the running uwsgi. */
  daemonId: string;
}

/** Starts a Keystone of its own for the caller (about 8 s); global setup starts the shared one. */
export async function startKeystone(): Promise<Keystone> {
  return keystoneHandle(await createKeystone(currentRun()));
}

/** Starts the run's shared Keystone and records it for sharedKeystone(). */
export async function startSharedKeystone(run: Run, options: KeystoneOptions = {}): Promise<Keystone> {
  const state = await createKeystone(run, options);
  writeRunFile(run.dir, SHARED_STATE_FILE, state);
  return keystoneHandle(state);
}

/** The run's shared Keystone. Only one test file may stop() it, and it must start() it again. */
export function sharedKeystone(): Keystone {
  return keystoneHandle(readRunFile<KeystoneState>(currentRun().dir, SHARED_STATE_FILE));
}

async function createKeystone(run: Run, options: KeystoneOptions = {}): Promise<KeystoneState> {
  const dir = mkdtempSync(join(run.dir, "keystone-"));
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freeLoopbackPort());
  const state: KeystoneState = {
    runDir: run.dir,
    url: `http://${host}:${port}`,
    host,
    port,
    ...(options.netns ? { netns: options.netns } : {}),
    dir,
    configFile: join(dir, "keystone.conf"),
    adminPassword: `admin-${basename(dir)}`,
    daemonId: `${basename(dir)}.daemon`,
  };
  writeFileSync(state.configFile, keystoneConfig(dir, options.tokenExpirationSeconds));
  const manage = (...args: string[]) => runChecked(["keystone-manage", "--config-file", state.configFile, ...args], { timeoutMs: 120_000 });
  const runAsRoot = ["--keystone-user", "root", "--keystone-group", "root"];
  await Promise.all([manage("db_sync"), manage("fernet_setup", ...runAsRoot), manage("credential_setup", ...runAsRoot)]);
  await manage(
    "bootstrap",
    "--bootstrap-username",
    ADMIN.user,
    "--bootstrap-password",
    state.adminPassword,
    "--bootstrap-project-name",
    ADMIN.project,
    "--bootstrap-role-name",
    "admin",
    "--bootstrap-service-name",
    "keystone",
    "--bootstrap-region-id",
    "RegionOne",
    "--bootstrap-public-url",
    `${state.url}/v3`,
  );
  await serve(state);
  return state;
}

function keystoneConfig(dir: string, tokenExpirationSeconds?: number): string {
  return [
    "[DEFAULT]",
    `log_file = ${join(dir, "keystone.log")}`,
    "use_stderr = false",
    "[database]",
    `connection = sqlite:///${join(dir, "keystone.db")}`,
    "[token]",
    "provider = fernet",
    ...(tokenExpirationSeconds ? [`expiration = ${tokenExpirationSeconds}`] : []),
    "[fernet_tokens]",
    `key_repository = ${join(dir, "fernet-keys")}`,
    // fernet_setup also writes receipt keys; left unset they would go to /etc/keystone/fernet-keys.
    "[fernet_receipts]",
    `key_repository = ${join(dir, "fernet-keys")}`,
    "[credential]",
    `key_repository = ${join(dir, "credential-keys")}`,
    "[identity]",
    "password_hash_rounds = 4",
    "",
  ].join("\n");
}

async function serve(state: KeystoneState): Promise<void> {
  const argv = [
    ...(state.netns ? ["nsenter", `--net=/var/run/netns/${state.netns}`] : []),
    "uwsgi",
    "--plugin",
    "python3",
    "--http-socket",
    `${state.host}:${state.port}`,
    "--wsgi-file",
    "/usr/bin/keystone-wsgi-public",
    "--processes",
    "1",
    "--threads",
    "1",
    "--buffer-size",
    "65535",
    "--die-on-term",
  ];
  const env = { ...process.env, OS_KEYSTONE_CONFIG_FILES: state.configFile };
  const daemon = await spawnDaemon(argv, { logFile: join(state.dir, "uwsgi.log"), env, cwd: state.dir });
  record(state.runDir, { kind: "daemon", id: state.daemonId, process: daemon });
  const answers = async () => {
    if (!isRunning(daemon)) throw new Error(`uwsgi for Keystone exited; see ${join(state.dir, "uwsgi.log")} and keystone.log`);
    return (await v3(state, "GET", "/v3").catch(() => undefined))?.status === 200;
  };
  if (!(await waitFor(answers, READY_TIMEOUT_MS, 100))) throw new Error(`Keystone at ${state.url} did not answer within ${READY_TIMEOUT_MS} ms`);
}

function keystoneHandle(state: KeystoneState): Keystone {
  let adminToken: Promise<string> | undefined;
  let memberRoleId: Promise<string> | undefined;

  const cachedAdminToken = () => {
    adminToken ??= authenticate(state, ADMIN.user, state.adminPassword, { project: { name: ADMIN.project, domain: DEFAULT_DOMAIN } }).then(
      (issued) => issued.token,
      (error: unknown) => {
        adminToken = undefined; // Keystone may be in an outage now and back later
        throw error;
      },
    );
    return adminToken;
  };
  const asAdmin = async (method: string, path: string, body?: unknown, subjectToken?: string) => {
    const headers: Record<string, string> = { "X-Auth-Token": await cachedAdminToken() };
    if (subjectToken) headers["X-Subject-Token"] = subjectToken;
    return expectStatus(await v3(state, method, path, body, headers), `${method} ${path}`);
  };
  const findMemberRole = async () => {
    const found = await asAdmin("GET", "/v3/roles?name=member");
    const existing = found.body.roles[0]?.id as string | undefined;
    return existing ?? ((await asAdmin("POST", "/v3/roles", { role: { name: "member" } })).body.role.id as string);
  };

  return {
    url: state.url,
    adminToken: cachedAdminToken,
    createProject: async (name) => (await asAdmin("POST", "/v3/projects", { project: { name, domain_id: DEFAULT_DOMAIN.id, enabled: true } })).body.project.id,
    createUser: async (name, password, projectIds) => {
      const userId = (await asAdmin("POST", "/v3/users", { user: { name, password, domain_id: DEFAULT_DOMAIN.id, enabled: true } })).body.user.id as string;
      memberRoleId ??= findMemberRole();
      const roleId = await memberRoleId;
      await Promise.all(projectIds.map((projectId) => asAdmin("PUT", `/v3/projects/${projectId}/users/${userId}/roles/${roleId}`)));
      return userId;
    },
    issueToken: (user, password, projectId) => authenticate(state, user, password, projectId ? { project: { id: projectId } } : undefined),
    revokeToken: async (token) => {
      await asAdmin("DELETE", "/v3/auth/tokens", undefined, token);
    },
    stop: async () => {
      const entry = readEntry(state.runDir, state.daemonId);
      if (entry) await release(state.runDir, entry);
    },
    start: async () => {
      const entry = readEntry(state.runDir, state.daemonId);
      if (entry?.kind === "daemon" && isRunning(entry.process)) return;
      await serve(state);
    },
  };
}

async function authenticate(state: KeystoneState, user: string, password: string, scope?: unknown): Promise<IssuedToken> {
  const auth = { identity: { methods: ["password"], password: { user: { name: user, domain: DEFAULT_DOMAIN, password } } }, ...(scope ? { scope } : {}) };
  const response = expectStatus(await v3(state, "POST", "/v3/auth/tokens", { auth }), `token for ${user}`);
  const token = response.body.token;
  return {
    token: String(response.headers["x-subject-token"]),
    expiresAt: token.expires_at,
    userId: token.user.id,
    ...(token.project ? { projectId: token.project.id } : {}),
  };
}

function v3(state: KeystoneState, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<JsonResponse> {
  return jsonRequest({ host: state.host, port: state.port }, method, path, { body, headers, timeoutMs: 30_000 });
}

function expectStatus(response: JsonResponse, what: string): JsonResponse {
  if (response.status < 200 || response.status > 299) {
    throw new Error(`Keystone refused ${what}: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return response;
}
