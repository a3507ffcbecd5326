/**
 * The proxy's settings, read once at start-up from environment variables and the files they name.
 * FDCS's SWARM_* names keep working (the admin guide's step 13); new settings use BERTH_*. Anything
 * missing, malformed or contradictory stops start-up with a SettingsError that names the variable
 * and says what was expected, because a security boundary must never guess its own configuration.
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { TENANT_ID_PATTERN } from "./identity/identity.ts";
import { OPERATIONS } from "./operations.ts";
import { disabledOperations } from "./policy/api-filter.ts";
import { flavorsSchema, MIB } from "./policy/flavors.ts";
import { type ContainerLimits, ULIMIT_NAMES } from "./policy/limits.ts";
import { quotaSchema } from "./policy/quota.ts";
import { DEFAULT_PRIVATE_CIDRS, type RegistryPolicy, privateRanges } from "./policy/registries.ts";
import type { AuthSettings, Engines, Policy, Settings, StaticToken, VolumeBackend, VolumeOwner } from "./settings-types.ts";
import { parseNodesFile } from "./upstream/cluster.ts";
import type { UpstreamAddress } from "./upstream/engine.ts";

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

export class SettingsError extends Error {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = "SettingsError";
  }
}

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === "" ? undefined : raw.trim();
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  if (/^true$/i.test(raw)) return true;
  if (/^false$/i.test(raw)) return false;
  throw new SettingsError(name, `expected true or false, got "${raw}"`);
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new SettingsError(name, `expected a positive whole number, got "${raw}"`);
  return Number(raw);
}

/** host:port; port 0 (listen only) asks the system for a free port. */
export function parseListen(raw: string, name = "BERTH_LISTEN", lowestPort = 0): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(raw);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < lowestPort || port > 65535) {
    throw new SettingsError(name, `expected host:port (e.g. 0.0.0.0:2376), got "${raw}"`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

export function parseUpstream(raw: string, name = "BERTH_UPSTREAM"): UpstreamAddress {
  if (raw.startsWith("unix://")) {
    const path = raw.slice("unix://".length);
    if (!path.startsWith("/")) throw new SettingsError(name, `expected unix:///absolute/path, got "${raw}"`);
    return { kind: "unix", path };
  }
  if (raw.startsWith("tcp://")) {
    const { host, port } = parseListen(raw.slice("tcp://".length).replace(/\/$/, ""), name, 1);
    return { kind: "tcp", host, port };
  }
  throw new SettingsError(name, `expected unix:///path or tcp://host:port, got "${raw}"`);
}

/** The smallest MTU IPv6 allows, and the largest jumbo frame: anything outside is a typo. */
const MTU_RANGE = { min: 1280, max: 9000 };

function optionalMtu(env: Env, name: string): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < MTU_RANGE.min || Number(raw) > MTU_RANGE.max) {
    throw new SettingsError(name, `expected an MTU from ${MTU_RANGE.min} to ${MTU_RANGE.max} (the hosts' network, e.g. 1450 on Neutron VXLAN), got "${raw}"`);
  }
  return Number(raw);
}

function readEngines(env: Env, files: SettingsFiles): Engines {
  const upstream = value(env, "BERTH_UPSTREAM");
  const nodesFile = value(env, "BERTH_NODES_FILE");
  if ((upstream === undefined) === (nodesFile === undefined)) {
    throw new SettingsError(
      "BERTH_UPSTREAM",
      "give one engine (BERTH_UPSTREAM=unix:///path or tcp://host:port) or a cluster (BERTH_NODES_FILE), not both or neither",
    );
  }
  const timing = {
    healthIntervalMs: positiveInt(env, "BERTH_HEALTH_INTERVAL_MS", 5_000),
    fanOutTimeoutMs: positiveInt(env, "BERTH_FANOUT_TIMEOUT_MS", 5_000),
    resyncIntervalMs: positiveInt(env, "BERTH_STATE_RESYNC_INTERVAL_MS", 60_000),
  };
  if (upstream !== undefined) return { nodes: [{ name: "engine", address: parseUpstream(upstream) }], named: false, ...timing };
  let lines: ReturnType<typeof parseNodesFile>;
  try {
    lines = parseNodesFile(files.read(nodesFile!).toString("utf8"));
  } catch (error) {
    throw new SettingsError("BERTH_NODES_FILE", `${nodesFile}: ${(error as Error).message}`);
  }
  if (lines.length === 0) throw new SettingsError("BERTH_NODES_FILE", `${nodesFile} lists no nodes`);
  const nodes = lines.map((line, index) => ({
    name: line.name ?? `docker-host-${index + 1}`,
    address: /^(unix|tcp):\/\//.test(line.hostPort)
      ? parseUpstream(line.hostPort, "BERTH_NODES_FILE")
      : parseUpstream(`tcp://${line.hostPort}`, "BERTH_NODES_FILE"),
  }));
  const duplicate = nodes.find((node, index) => nodes.findIndex((other) => other.name === node.name) !== index);
  if (duplicate) throw new SettingsError("BERTH_NODES_FILE", `the node name ${duplicate.name} is given twice`);
  return { nodes, named: true, ...timing };
}

function readVolumeBackend(env: Env, cluster: boolean): VolumeBackend {
  const kind = value(env, "BERTH_VOLUME_BACKEND") ?? "local";
  const required = (name: string) => {
    const found = value(env, name);
    if (found === undefined) throw new SettingsError(name, `required with BERTH_VOLUME_BACKEND=${kind}`);
    return found;
  };
  const absolute = (name: string) => {
    const path = required(name);
    if (!path.startsWith("/")) throw new SettingsError(name, `expected an absolute path, got "${path}"`);
    return path.replace(/\/+$/, "");
  };
  switch (kind) {
    case "local":
      if (cluster) throw new SettingsError("BERTH_VOLUME_BACKEND", "a cluster needs volumes every node reaches: nfs, shared-dir or osd");
      return { kind };
    case "nfs":
      return { kind, server: required("BERTH_NFS_SERVER"), export: absolute("BERTH_NFS_EXPORT"), root: absolute("BERTH_VOLUME_ROOT"), ...volumeOwner(env) };
    case "shared-dir":
      return { kind, root: absolute("BERTH_VOLUME_ROOT"), ...volumeOwner(env) };
    case "osd":
      return { kind, driver: value(env, "BERTH_OSD_DRIVER") ?? "nfs" };
    default:
      throw new SettingsError("BERTH_VOLUME_BACKEND", `expected local, nfs, shared-dir or osd, got "${kind}"`);
  }
}

/** `uid:gid`, e.g. `100000:100000`, the first ids of the engines' user-namespace remapping. */
function volumeOwner(env: Env): { owner?: VolumeOwner } {
  const raw = value(env, "BERTH_VOLUME_OWNER");
  if (raw === undefined) return {};
  const match = /^(\d{1,10}):(\d{1,10})$/.exec(raw);
  if (!match || Number(match[1]) > 0xfffffffe || Number(match[2]) > 0xfffffffe) {
    throw new SettingsError("BERTH_VOLUME_OWNER", `expected uid:gid (the engines' remapped root, e.g. 100000:100000), got "${raw}"`);
  }
  return { owner: { uid: Number(match[1]), gid: Number(match[2]) } };
}

/** A runtime name as dockerd's `runtimes` keys them; `runc` is the engine's own default. */
function optionalRuntime(env: Env, name: string): string | undefined {
  const raw = value(env, name);
  if (raw !== undefined && !/^[a-z][a-z0-9_.-]{0,63}$/.test(raw)) {
    throw new SettingsError(name, `expected a runtime name registered on the engines (e.g. runsc), got "${raw}"`);
  }
  return raw;
}

function keystoneUrl(env: Env): string {
  const name = value(env, "SWARM_KEYSTONE_URL") !== undefined ? "SWARM_KEYSTONE_URL" : "BERTH_KEYSTONE_URL";
  const raw = value(env, name);
  if (raw === undefined) throw new SettingsError("SWARM_KEYSTONE_URL", "required with the keystone auth backend (e.g. https://keystone.example:5000/v3)");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SettingsError(name, `not a URL: "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new SettingsError(name, `expected an http(s) URL, got "${raw}"`);
  const path = url.pathname.replace(/\/+$/, "");
  if (/\/v2\.0$/.test(path)) throw new SettingsError(name, "Keystone v2.0 no longer exists: give the v3 URL (…/v3)");
  // Accept the service root or its /v3: the identity module always speaks v3.
  return `${url.origin}${path.replace(/\/v3$/, "")}`;
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

export function readTokensFile(path: string, name = "BERTH_TOKENS_FILE", files: SettingsFiles = DISK): StaticToken[] {
  const json = readJsonFile(files, path, name);
  const parsed = staticTokensSchema.safeParse(json);
  if (!parsed.success) throw new SettingsError(name, `${path}: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
  const seen = new Set<string>();
  for (const entry of parsed.data) {
    if (seen.has(entry.token)) throw new SettingsError(name, `${path}: a token is listed twice (user ${entry.user})`);
    seen.add(entry.token);
  }
  return parsed.data;
}

function authBackend(env: Env): "keystone" | "static" | "none" {
  const berth = value(env, "BERTH_AUTH_BACKEND")?.toLowerCase();
  const swarm = value(env, "SWARM_AUTH_BACKEND")?.toLowerCase();
  for (const [name, raw] of [
    ["BERTH_AUTH_BACKEND", berth],
    ["SWARM_AUTH_BACKEND", swarm],
  ] as const) {
    if (raw !== undefined && raw !== "keystone" && raw !== "static" && raw !== "none") {
      throw new SettingsError(name, `expected keystone, static or none, got "${env[name]}"`);
    }
  }
  if (berth && swarm && berth !== swarm) {
    throw new SettingsError("BERTH_AUTH_BACKEND", `says ${berth} but SWARM_AUTH_BACKEND says ${swarm}: set one`);
  }
  const chosen = berth ?? swarm;
  if (chosen === undefined) throw new SettingsError("BERTH_AUTH_BACKEND", "required: keystone, static or none");
  return chosen as "keystone" | "static" | "none";
}

function readPem(env: Env, files: SettingsFiles, name: string): Buffer {
  const path = value(env, name)!;
  try {
    return files.read(path);
  } catch (error) {
    throw new SettingsError(name, `cannot read ${path}: ${(error as Error).message}`);
  }
}

function optionalTenantId(env: Env, name: string): string | undefined {
  const raw = value(env, name);
  if (raw !== undefined && !TENANT_ID_PATTERN.test(raw)) {
    throw new SettingsError(name, `expected a project id (letters, digits, '-'), got "${raw}"`);
  }
  return raw;
}

/** FDCS's rule: a file not named defaults to `<name>.json` in the directory the service starts in. */
function policyFile(env: Env, name: string, fallback: string): string {
  return value(env, name) ?? fallback;
}

/** BERTH_ULIMITS_MAX: `name=max` pairs (`nofile=1048576,core=0,stack=unlimited`), or `none`. */
export function parseUlimitsMax(raw: string, name = "BERTH_ULIMITS_MAX"): ReadonlyMap<string, number> {
  if (raw === "none") return new Map();
  const entries = raw
    .split(",")
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const match = /^([a-z]+)=(\d+|unlimited)$/.exec(pair);
      if (!match || !ULIMIT_NAMES.includes(match[1]!)) {
        throw new SettingsError(name, `expected name=max pairs (max a number or "unlimited"; names ${ULIMIT_NAMES.join(", ")}), got "${pair}"`);
      }
      return [match[1]!, match[2] === "unlimited" ? Infinity : Number(match[2])] as const;
    });
  return new Map(entries);
}

export const DEFAULT_ULIMITS_MAX =
  "core=0,cpu=unlimited,data=unlimited,fsize=unlimited,locks=unlimited,nofile=1048576,nproc=unlimited,rss=unlimited,stack=unlimited";

function readLimits(env: Env): ContainerLimits {
  const pids = { default: positiveInt(env, "BERTH_PIDS_LIMIT_DEFAULT", 1024), max: positiveInt(env, "BERTH_PIDS_LIMIT_MAX", 4096) };
  if (pids.default > pids.max) throw new SettingsError("BERTH_PIDS_LIMIT_DEFAULT", `${pids.default} is over BERTH_PIDS_LIMIT_MAX (${pids.max})`);
  return {
    pids,
    shmMaxBytes: positiveInt(env, "BERTH_SHM_MAX_MB", 64) * MIB,
    healthcheckMinNs: positiveInt(env, "BERTH_HEALTHCHECK_MIN_MS", 1000) * 1e6,
    ulimitsMax: parseUlimitsMax(value(env, "BERTH_ULIMITS_MAX") ?? DEFAULT_ULIMITS_MAX),
    publishedPortsMax: positiveInt(env, "BERTH_PUBLISHED_PORTS_MAX", 20),
    publishedPortsTenantMax: positiveInt(env, "BERTH_PUBLISHED_PORTS_TENANT_MAX", 100),
    networksTenantMax: positiveInt(env, "BERTH_NETWORKS_TENANT_MAX", 20),
    mountsMax: positiveInt(env, "BERTH_MOUNTS_MAX", 64),
  };
}

function readPolicy(env: Env, files: SettingsFiles): Policy {
  const flavors = bool(env, "SWARM_FLAVORS_ENFORCED", false)
    ? parseJsonFile(files, policyFile(env, "SWARM_FLAVORS_FILE", "flavors.json"), "SWARM_FLAVORS_FILE", flavorsSchema)
    : undefined;
  const quota = bool(env, "SWARM_ENFORCE_QUOTA", false)
    ? parseJsonFile(files, policyFile(env, "SWARM_QUOTA_FILE", "quota.json"), "SWARM_QUOTA_FILE", quotaSchema)
    : undefined;
  let disabled: ReadonlySet<string> = new Set();
  const filterFile = value(env, "SWARM_APIFILTER_FILE") ?? (files.exists("apifilter.json") ? "apifilter.json" : undefined);
  if (filterFile !== undefined) {
    const result = disabledOperations(readJsonFile(files, filterFile, "SWARM_APIFILTER_FILE"), OPERATIONS);
    if ("error" in result) throw new SettingsError("SWARM_APIFILTER_FILE", `${filterFile}: ${result.error}`);
    disabled = result.disabled;
  }
  const capabilities = (value(env, "BERTH_ALLOW_CAPABILITIES") ?? "")
    .split(",")
    .map((c) => c.trim().toUpperCase().replace(/^CAP_/, ""))
    .filter(Boolean);
  for (const capability of capabilities) {
    if (!/^[A-Z_]+$/.test(capability) || capability === "ALL") throw new SettingsError("BERTH_ALLOW_CAPABILITIES", `"${capability}" is not a capability name`);
  }
  return {
    flavors,
    quota,
    disabledOperations: disabled,
    allowedCapabilities: new Set(capabilities),
    tmpfsMaxBytes: positiveInt(env, "BERTH_TMPFS_MAX_MB", 64) * MIB,
    limits: readLimits(env),
    metadataMaxBytes: positiveInt(env, "BERTH_METADATA_MAX_BYTES", 64 * 1024),
    tenantImageChanges: bool(env, "BERTH_TENANT_IMAGE_CHANGES", false),
    registries: readRegistries(env),
    tenantRuntime: optionalRuntime(env, "BERTH_TENANT_RUNTIME"),
  };
}

function list(env: Env, name: string): string[] | undefined {
  return value(env, name)
    ?.split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

function readRegistries(env: Env): RegistryPolicy {
  const ranges = privateRanges(list(env, "BERTH_REGISTRY_PRIVATE_CIDRS") ?? DEFAULT_PRIVATE_CIDRS);
  if ("bad" in ranges) throw new SettingsError("BERTH_REGISTRY_PRIVATE_CIDRS", `expected address/prefix ranges such as 10.0.0.0/8, got "${ranges.bad}"`);
  const allowed = (list(env, "BERTH_TENANT_REGISTRIES") ?? []).map((registry) => registry.toLowerCase());
  const bad = allowed.find((registry) => !/^(\[[0-9a-f:]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(registry));
  if (bad !== undefined) throw new SettingsError("BERTH_TENANT_REGISTRIES", `expected registries as host or host:port, got "${bad}"`);
  return { privateRanges: ranges, allowed: new Set(allowed) };
}

export function readSettings(env: Env, files: SettingsFiles = DISK): Settings {
  const listen = parseListen(value(env, "BERTH_LISTEN") ?? "0.0.0.0:2376");
  const engines = readEngines(env, files);
  const scheduler = value(env, "BERTH_SCHEDULER_STRATEGY") ?? "spread";
  if (scheduler !== "spread" && scheduler !== "binpack" && scheduler !== "random") {
    throw new SettingsError("BERTH_SCHEDULER_STRATEGY", `expected spread, binpack or random, got "${scheduler}"`);
  }
  const multiTenant = bool(env, "SWARM_MULTI_TENANT", true);

  const backend = authBackend(env);
  let auth: AuthSettings;
  if (backend === "keystone") {
    auth = {
      backend,
      keystoneUrl: keystoneUrl(env),
      cacheTtlMs: positiveInt(env, "BERTH_TOKEN_CACHE_SECONDS", 30) * 1000,
      cacheSize: positiveInt(env, "BERTH_TOKEN_CACHE_SIZE", 10_000),
      timeoutMs: positiveInt(env, "BERTH_KEYSTONE_TIMEOUT_MS", 5_000),
      lookups: {
        total: positiveInt(env, "BERTH_KEYSTONE_MAX_LOOKUPS", 32),
        perAddress: positiveInt(env, "BERTH_KEYSTONE_MAX_LOOKUPS_PER_ADDRESS", 4),
      },
    };
  } else if (backend === "static") {
    const tokensFile = value(env, "BERTH_TOKENS_FILE");
    if (tokensFile === undefined) throw new SettingsError("BERTH_TOKENS_FILE", "required with the static auth backend");
    auth = { backend, tokensFile, tokens: readTokensFile(tokensFile, "BERTH_TOKENS_FILE", files) };
  } else {
    if (multiTenant) {
      throw new SettingsError("BERTH_AUTH_BACKEND", "none means no authentication, which is only allowed with SWARM_MULTI_TENANT=false");
    }
    auth = { backend };
  }

  const adminTenantId = optionalTenantId(env, "SWARM_ADMIN_TENANT_ID");
  const membersTenantId = optionalTenantId(env, "SWARM_MEMBERS_TENANT_ID");
  if (membersTenantId !== undefined && auth.backend !== "keystone") {
    throw new SettingsError("SWARM_MEMBERS_TENANT_ID", "only works with the keystone auth backend");
  }

  const certSet = value(env, "BERTH_TLS_CERT") !== undefined;
  const keySet = value(env, "BERTH_TLS_KEY") !== undefined;
  if (certSet !== keySet) throw new SettingsError(certSet ? "BERTH_TLS_KEY" : "BERTH_TLS_CERT", "BERTH_TLS_CERT and BERTH_TLS_KEY go together");
  const tls = certSet ? { cert: readPem(env, files, "BERTH_TLS_CERT"), key: readPem(env, files, "BERTH_TLS_KEY") } : undefined;

  return {
    listen,
    engines,
    scheduler,
    volumes: readVolumeBackend(env, engines.named),
    auth,
    adminTenantId,
    membersTenantId,
    multiTenant,
    networkAuthorization: bool(env, "SWARM_NETWORK_AUTHORIZATION", true),
    tls,
    maxBodyBytes: positiveInt(env, "BERTH_MAX_BODY_BYTES", 1024 * 1024),
    engineTimeoutMs: positiveInt(env, "BERTH_ENGINE_TIMEOUT_MS", 60_000),
    headersTimeoutMs: positiveInt(env, "BERTH_HEADERS_TIMEOUT_MS", 60_000),
    callLimits: { perTenant: positiveInt(env, "BERTH_TENANT_MAX_CALLS", 128), total: positiveInt(env, "BERTH_MAX_CALLS", 2048) },
    policy: readPolicy(env, files),
    networkMtu: optionalMtu(env, "BERTH_NETWORK_MTU"),
  };
}
