/**
 * The proxy's settings, read once at start-up from environment variables and the files they name.
 * Every variable is read through the settings table (settings-table.ts: its names, default and
 * check); this reader adds what spans settings and reads the files. Anything missing, malformed or
 * contradictory stops start-up with a SettingsError that names the variable and says what was
 * expected, because a security boundary must never guess its own configuration.
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { TENANT_ID_PATTERN } from "./identity/identity.ts";
import { OPERATIONS } from "./operations.ts";
import { disabledOperations } from "./policy/api-filter.ts";
import { flavorsSchema, MIB } from "./policy/flavors.ts";
import type { ContainerLimits } from "./policy/limits.ts";
import { quotaSchema } from "./policy/quota.ts";
import type { RegistryPolicy } from "./policy/registries.ts";
import { parseUpstream, SETTINGS, type Setting, SettingsError } from "./settings-table.ts";
import type { AuthSettings, Engines, Policy, Settings, StaticToken, VolumeBackend } from "./settings-types.ts";
import { parseNodesFile } from "./upstream/cluster.ts";

/**
 * Where the settings' files (nodes, flavors, quota, API filter, tokens, TLS) are read from: the
 * disk for the proxy, the files a stack will write for infra's check at preview (one reader, so a
 * stack the proxy would refuse is refused before anything is created).
 */
export interface SettingsFiles {
  /** The file's bytes; throws (with a message naming why) when it cannot be read. */
  read(path: string): Buffer;
  exists(path: string): boolean;
}

const DISK: SettingsFiles = { read: (path) => readFileSync(path), exists: existsSync };

type Env = Record<string, string | undefined>;

/** A variable's value, trimmed; empty is unset. */
function variable(env: Env, name: string): string | undefined {
  return env[name]?.trim() || undefined;
}

/** The setting as given, under the name it was given (its own before its alias). */
function given<T>(env: Env, setting: Setting<T>): { name: string; raw: string } | undefined {
  for (const name of [setting.env, setting.alias]) {
    const raw = name === undefined ? undefined : variable(env, name);
    if (raw !== undefined) return { name: name!, raw };
  }
  return undefined;
}

/** The setting's value: as given, else its default; undefined when it has neither. */
function read<T>(env: Env, setting: Setting<T> & { default: string }): T;
function read<T>(env: Env, setting: Setting<T>): T | undefined;
function read<T>(env: Env, setting: Setting<T>): T | undefined {
  const found = given(env, setting);
  if (found) return setting.parse(found.raw, found.name);
  return setting.default === undefined ? undefined : setting.parse(setting.default, setting.env);
}

/** A setting another one needs: named as missing when it is not given. */
function required<T>(env: Env, setting: Setting<T>, because: string): T {
  const value = read(env, setting);
  if (value === undefined) throw new SettingsError(setting.env, `required ${because}`);
  return value;
}

function readEngines(env: Env, files: SettingsFiles): Engines {
  const { upstream, nodesFile } = SETTINGS;
  const engine = read(env, upstream);
  const nodesPath = read(env, nodesFile);
  if ((engine === undefined) === (nodesPath === undefined)) {
    throw new SettingsError(
      upstream.env,
      `give one engine (${upstream.env}=unix:///path or tcp://host:port) or a cluster (${nodesFile.env}), not both or neither`,
    );
  }
  const timing = {
    healthIntervalMs: read(env, SETTINGS.healthIntervalMs),
    fanOutTimeoutMs: read(env, SETTINGS.fanOutTimeoutMs),
    resyncIntervalMs: read(env, SETTINGS.stateResyncIntervalMs),
  };
  if (engine !== undefined) return { nodes: [{ name: "engine", address: engine }], named: false, ...timing };
  let lines: ReturnType<typeof parseNodesFile>;
  try {
    lines = parseNodesFile(files.read(nodesPath!).toString("utf8"));
  } catch (error) {
    throw new SettingsError(nodesFile.env, `${nodesPath}: ${(error as Error).message}`);
  }
  if (lines.length === 0) throw new SettingsError(nodesFile.env, `${nodesPath} lists no nodes`);
  const nodes = lines.map((line, index) => ({
    name: line.name ?? `docker-host-${index + 1}`,
    address: parseUpstream(/^(unix|tcp):\/\//.test(line.hostPort) ? line.hostPort : `tcp://${line.hostPort}`, nodesFile.env),
  }));
  const duplicate = nodes.find((node, index) => nodes.findIndex((other) => other.name === node.name) !== index);
  if (duplicate) throw new SettingsError(nodesFile.env, `the node name ${duplicate.name} is given twice`);
  return { nodes, named: true, ...timing };
}

function readVolumeBackend(env: Env, cluster: boolean): VolumeBackend {
  const { volumeBackend } = SETTINGS;
  const kind = read(env, volumeBackend);
  const because = `with ${volumeBackend.env}=${kind}`;
  // Who owns the directories the proxy makes: only the backends made of directories have one.
  const owned = () => {
    const owner = read(env, SETTINGS.volumeOwner);
    return owner === undefined ? {} : { owner };
  };
  switch (kind) {
    case "local":
      if (cluster) throw new SettingsError(volumeBackend.env, "a cluster needs volumes every node reaches: nfs, shared-dir or osd");
      return { kind };
    case "nfs":
      return {
        kind,
        server: required(env, SETTINGS.nfsServer, because),
        export: required(env, SETTINGS.nfsExport, because),
        root: required(env, SETTINGS.volumeRoot, because),
        ...owned(),
      };
    case "shared-dir":
      return { kind, root: required(env, SETTINGS.volumeRoot, because), ...owned() };
    case "osd":
      return { kind, driver: read(env, SETTINGS.osdDriver) };
  }
}

const staticTokensSchema = z
  .array(
    z.strictObject({
      token: z.string().min(8, "a token must have at least 8 characters"),
      user: z.string().min(1),
      tenant: z.string().regex(TENANT_ID_PATTERN, "a tenant id is letters, digits and '-' (no '_'), at most 64"),
      admin: z.boolean().optional(),
    }),
  )
  .min(1, "the file lists no tokens");

function readJsonFile(files: SettingsFiles, path: string, name: string): unknown {
  let text: string;
  try {
    text = files.read(path).toString("utf8");
  } catch (error) {
    throw new SettingsError(name, `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SettingsError(name, `${path} is not JSON: ${(error as Error).message}`);
  }
}

function parseJsonFile<T>(files: SettingsFiles, path: string, name: string, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(readJsonFile(files, path, name));
  if (!parsed.success) throw new SettingsError(name, `${path}: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
  return parsed.data;
}

function readTokensFile(files: SettingsFiles, path: string, name: string): StaticToken[] {
  const tokens = parseJsonFile(files, path, name, staticTokensSchema);
  const seen = new Set<string>();
  for (const entry of tokens) {
    if (seen.has(entry.token)) throw new SettingsError(name, `${path}: a token is listed twice (user ${entry.user})`);
    seen.add(entry.token);
  }
  return tokens;
}

/** FDCS's SWARM_AUTH_BACKEND and berth's BERTH_AUTH_BACKEND: both are checked, and must agree when both are given. */
function readAuthBackend(env: Env): "keystone" | "static" | "none" {
  const { authBackend } = SETTINGS;
  const [berth, swarm] = [authBackend.env, authBackend.alias].map((name) => {
    const raw = variable(env, name);
    return raw === undefined ? undefined : authBackend.parse(raw, name);
  });
  if (berth && swarm && berth !== swarm) {
    throw new SettingsError(authBackend.env, `says ${berth} but ${authBackend.alias} says ${swarm}: set one`);
  }
  const chosen = berth ?? swarm;
  if (chosen === undefined) throw new SettingsError(authBackend.env, "required: keystone, static or none");
  return chosen;
}

function readAuth(env: Env, files: SettingsFiles, multiTenant: boolean): AuthSettings {
  const backend = readAuthBackend(env);
  switch (backend) {
    case "keystone":
      return {
        backend,
        keystoneUrl: required(env, SETTINGS.keystoneUrl, "with the keystone auth backend (e.g. https://keystone.example:5000/v3)"),
        cacheTtlMs: read(env, SETTINGS.tokenCacheSeconds) * 1000,
        cacheSize: read(env, SETTINGS.tokenCacheSize),
        timeoutMs: read(env, SETTINGS.keystoneTimeoutMs),
        lookups: { total: read(env, SETTINGS.keystoneMaxLookups), perAddress: read(env, SETTINGS.keystoneMaxLookupsPerAddress) },
      };
    case "static": {
      const tokensFile = required(env, SETTINGS.tokensFile, "with the static auth backend");
      return { backend, tokensFile, tokens: readTokensFile(files, tokensFile, SETTINGS.tokensFile.env) };
    }
    case "none":
      if (multiTenant) {
        throw new SettingsError(SETTINGS.authBackend.env, `none means no authentication, which is only allowed with ${SETTINGS.multiTenant.env}=false`);
      }
      return { backend };
  }
}

function readTls(env: Env, files: SettingsFiles): Settings["tls"] {
  const { tlsCert, tlsKey } = SETTINGS;
  const [cert, key] = [tlsCert, tlsKey].map((setting) => read(env, setting));
  if ((cert === undefined) !== (key === undefined)) {
    throw new SettingsError(cert === undefined ? tlsCert.env : tlsKey.env, `${tlsCert.env} and ${tlsKey.env} go together`);
  }
  if (cert === undefined) return undefined;
  const pem = (path: string, name: string) => {
    try {
      return files.read(path);
    } catch (error) {
      throw new SettingsError(name, `cannot read ${path}: ${(error as Error).message}`);
    }
  };
  return { cert: pem(cert, tlsCert.env), key: pem(key!, tlsKey.env) };
}

function readLimits(env: Env): ContainerLimits {
  const pids = { default: read(env, SETTINGS.pidsLimitDefault), max: read(env, SETTINGS.pidsLimitMax) };
  if (pids.default > pids.max) {
    throw new SettingsError(SETTINGS.pidsLimitDefault.env, `${pids.default} is over ${SETTINGS.pidsLimitMax.env} (${pids.max})`);
  }
  return {
    pids,
    shmMaxBytes: read(env, SETTINGS.shmMaxMb) * MIB,
    healthcheckMinNs: read(env, SETTINGS.healthcheckMinMs) * 1e6,
    ulimitsMax: read(env, SETTINGS.ulimitsMax),
    publishedPortsMax: read(env, SETTINGS.publishedPortsMax),
    publishedPortsTenantMax: read(env, SETTINGS.publishedPortsTenantMax),
    networksTenantMax: read(env, SETTINGS.networksTenantMax),
    mountsMax: read(env, SETTINGS.mountsMax),
  };
}

/** FDCS's rule: a policy file not named is `<name>.json` in the directory the service starts in. */
function readPolicyFile<T>(env: Env, files: SettingsFiles, setting: Setting<string> & { default: string }, schema: z.ZodType<T>): T {
  return parseJsonFile(files, read(env, setting), setting.env, schema);
}

/** The API filter is FDCS's optional file: the default one only when it exists. */
function readDisabledOperations(env: Env, files: SettingsFiles): ReadonlySet<string> {
  const apiFilterFile: Setting<string> & { default: string } = SETTINGS.apiFilterFile;
  const named = given(env, apiFilterFile);
  const path = named ? apiFilterFile.parse(named.raw, named.name) : files.exists(apiFilterFile.default) ? apiFilterFile.default : undefined;
  if (path === undefined) return new Set();
  const result = disabledOperations(readJsonFile(files, path, apiFilterFile.env), OPERATIONS);
  if ("error" in result) throw new SettingsError(apiFilterFile.env, `${path}: ${result.error}`);
  return result.disabled;
}

function readRegistries(env: Env): RegistryPolicy {
  return { privateRanges: read(env, SETTINGS.registryPrivateCidrs), allowed: new Set(read(env, SETTINGS.tenantRegistries) ?? []) };
}

function readPolicy(env: Env, files: SettingsFiles): Policy {
  return {
    flavors: read(env, SETTINGS.flavorsEnforced) ? readPolicyFile(env, files, SETTINGS.flavorsFile, flavorsSchema) : undefined,
    quota: read(env, SETTINGS.quotaEnforced) ? readPolicyFile(env, files, SETTINGS.quotaFile, quotaSchema) : undefined,
    disabledOperations: readDisabledOperations(env, files),
    allowedCapabilities: new Set(read(env, SETTINGS.allowCapabilities) ?? []),
    tmpfsMaxBytes: read(env, SETTINGS.tmpfsMaxMb) * MIB,
    limits: readLimits(env),
    metadataMaxBytes: read(env, SETTINGS.metadataMaxBytes),
    tenantImageChanges: read(env, SETTINGS.tenantImageChanges),
    registries: readRegistries(env),
    tenantRuntime: read(env, SETTINGS.tenantRuntime),
  };
}

export function readSettings(env: Env, files: SettingsFiles = DISK): Settings {
  const listen = read(env, SETTINGS.listen);
  const engines = readEngines(env, files);
  const scheduler = read(env, SETTINGS.schedulerStrategy);
  const multiTenant = read(env, SETTINGS.multiTenant);
  const auth = readAuth(env, files, multiTenant);

  const adminTenantId = read(env, SETTINGS.adminTenantId);
  const membersTenantId = read(env, SETTINGS.membersTenantId);
  if (membersTenantId !== undefined && auth.backend !== "keystone") {
    throw new SettingsError(SETTINGS.membersTenantId.env, "only works with the keystone auth backend");
  }
  const tls = readTls(env, files);

  return {
    listen,
    engines,
    scheduler,
    volumes: readVolumeBackend(env, engines.named),
    auth,
    adminTenantId,
    membersTenantId,
    multiTenant,
    networkAuthorization: read(env, SETTINGS.networkAuthorization),
    tls,
    maxBodyBytes: read(env, SETTINGS.maxBodyBytes),
    engineTimeoutMs: read(env, SETTINGS.engineTimeoutMs),
    headersTimeoutMs: read(env, SETTINGS.headersTimeoutMs),
    callLimits: { perTenant: read(env, SETTINGS.tenantMaxCalls), total: read(env, SETTINGS.maxCalls) },
    policy: readPolicy(env, files),
    networkMtu: read(env, SETTINGS.networkMtu),
  };
}
