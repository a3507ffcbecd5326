/**
 * The proxy's settings, one row each: the environment variable (FDCS's SWARM_* name where FDCS had
 * the setting, BERTH_* otherwise), the other name it is also read under, its default, what it means
 * and how its value is checked. This table is the one contract: the reader (settings.ts) reads every
 * variable through it, tenant-proxy/README.md is checked against it, and infra checks the proxy.env
 * it writes against it (test/infra/proxy-env.test.ts). The rules that span settings (one engine or a
 * cluster, the auth backend's needs, the volume backend's) are the reader's.
 */
import type { BlockList } from "node:net";
import { TENANT_ID_PATTERN } from "./identity/identity.ts";
import { ULIMIT_NAMES } from "./policy/limits.ts";
import { DEFAULT_PRIVATE_CIDRS, privateRanges } from "./policy/registries.ts";
import type { VolumeOwner } from "./settings-types.ts";
import type { UpstreamAddress } from "./upstream/engine.ts";

/** A setting the proxy cannot start with: `setting` is the variable, `problem` what is wrong with it. */
export class SettingsError extends Error {
  constructor(
    readonly setting: string,
    readonly problem: string,
  ) {
    super(`${setting}: ${problem}`);
    this.name = "SettingsError";
  }
}

export interface Setting<T> {
  /** The environment variable. */
  env: string;
  /** Another name the proxy reads the setting under; `env` wins when both are given. */
  alias?: string;
  /** What an unset variable stands for, written as its value would be; none: required or off. */
  default?: string;
  /** One line; tenant-proxy/README.md says it at length. */
  meaning: string;
  /** The value as the proxy uses it, or a SettingsError naming `name`, the variable it came from. */
  parse: (raw: string, name: string) => T;
}

const text = (raw: string): string => raw;

function bool(raw: string, name: string): boolean {
  if (/^true$/i.test(raw)) return true;
  if (/^false$/i.test(raw)) return false;
  throw new SettingsError(name, `expected true or false, got "${raw}"`);
}

function positiveInt(raw: string, name: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new SettingsError(name, `expected a positive whole number, got "${raw}"`);
  return Number(raw);
}

/** One of a few words; `fold` is how a given word is compared (the auth backend takes FDCS's `Keystone`). */
function oneOf<T extends string>(choices: readonly T[], fold: (raw: string) => string = text) {
  return (raw: string, name: string): T => {
    const word = fold(raw);
    if (!(choices as readonly string[]).includes(word)) {
      throw new SettingsError(name, `expected ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}, got "${raw}"`);
    }
    return word as T;
  };
}

function absolutePath(raw: string, name: string): string {
  if (!raw.startsWith("/")) throw new SettingsError(name, `expected an absolute path, got "${raw}"`);
  return raw.replace(/\/+$/, "");
}

function list(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** host:port; port 0 (listen only) asks the system for a free port. */
function parseListen(raw: string, name: string, lowestPort = 0): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(raw);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < lowestPort || port > 65535) {
    throw new SettingsError(name, `expected host:port (e.g. 0.0.0.0:2376), got "${raw}"`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

/** An engine's address: BERTH_UPSTREAM, and each line of the nodes file. */
export function parseUpstream(raw: string, name: string): UpstreamAddress {
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
export const MTU_RANGE = { min: 1280, max: 9000 };

function mtu(raw: string, name: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < MTU_RANGE.min || Number(raw) > MTU_RANGE.max) {
    throw new SettingsError(name, `expected an MTU from ${MTU_RANGE.min} to ${MTU_RANGE.max} (the hosts' network, e.g. 1450 on Neutron VXLAN), got "${raw}"`);
  }
  return Number(raw);
}

/** `uid:gid`, e.g. `100000:100000`, the first ids of the engines' user-namespace remapping. */
function volumeOwner(raw: string, name: string): VolumeOwner {
  const match = /^(\d{1,10}):(\d{1,10})$/.exec(raw);
  if (!match || Number(match[1]) > 0xfffffffe || Number(match[2]) > 0xfffffffe) {
    throw new SettingsError(name, `expected uid:gid (the engines' remapped root, e.g. 100000:100000), got "${raw}"`);
  }
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

/** A runtime name as dockerd's `runtimes` keys them; `runc` is the engine's own default. */
function runtime(raw: string, name: string): string {
  if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(raw)) throw new SettingsError(name, `expected a runtime name registered on the engines (e.g. runsc), got "${raw}"`);
  return raw;
}

function tenantId(raw: string, name: string): string {
  if (!TENANT_ID_PATTERN.test(raw)) throw new SettingsError(name, `expected a project id (letters, digits, '-'), got "${raw}"`);
  return raw;
}

/** The Keystone service root: the identity module always speaks v3, so the service root or its /v3 is accepted. */
function keystoneUrl(raw: string, name: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SettingsError(name, `not a URL: "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new SettingsError(name, `expected an http(s) URL, got "${raw}"`);
  const path = url.pathname.replace(/\/+$/, "");
  if (/\/v2\.0$/.test(path)) throw new SettingsError(name, "Keystone v2.0 no longer exists: give the v3 URL (…/v3)");
  return `${url.origin}${path.replace(/\/v3$/, "")}`;
}

/** `name=max` pairs (`nofile=1048576,core=0,stack=unlimited`), or `none`. */
function ulimitsMax(raw: string, name: string): ReadonlyMap<string, number> {
  if (raw === "none") return new Map();
  const entries = list(raw).map((pair) => {
    const match = /^([a-z]+)=(\d+|unlimited)$/.exec(pair);
    if (!match || !ULIMIT_NAMES.includes(match[1]!)) {
      throw new SettingsError(name, `expected name=max pairs (max a number or "unlimited"; names ${ULIMIT_NAMES.join(", ")}), got "${pair}"`);
    }
    return [match[1]!, match[2] === "unlimited" ? Infinity : Number(match[2])] as const;
  });
  return new Map(entries);
}

function capabilities(raw: string, name: string): string[] {
  const names = list(raw)
    .map((capability) => capability.toUpperCase().replace(/^CAP_/, ""))
    .filter(Boolean);
  for (const capability of names) {
    if (!/^[A-Z_]+$/.test(capability) || capability === "ALL") throw new SettingsError(name, `"${capability}" is not a capability name`);
  }
  return names;
}

function privateCidrs(raw: string, name: string): BlockList {
  const ranges = privateRanges(list(raw));
  if ("bad" in ranges) throw new SettingsError(name, `expected address/prefix ranges such as 10.0.0.0/8, got "${ranges.bad}"`);
  return ranges;
}

function registries(raw: string, name: string): string[] {
  const allowed = list(raw).map((registry) => registry.toLowerCase());
  const bad = allowed.find((registry) => !/^(\[[0-9a-f:]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(registry));
  if (bad !== undefined) throw new SettingsError(name, `expected registries as host or host:port, got "${bad}"`);
  return allowed;
}

export const SETTINGS = {
  // Where it listens, and the engines behind it.
  listen: { env: "BERTH_LISTEN", default: "0.0.0.0:2376", meaning: "host:port to listen on", parse: (raw, name) => parseListen(raw, name) },
  upstream: { env: "BERTH_UPSTREAM", meaning: "one engine: unix:///path or tcp://host:port", parse: parseUpstream },
  nodesFile: { env: "BERTH_NODES_FILE", meaning: "a cluster: the file listing its engines", parse: text },
  schedulerStrategy: {
    env: "BERTH_SCHEDULER_STRATEGY",
    default: "spread",
    meaning: "how a cluster picks a new container's node",
    parse: oneOf(["spread", "binpack", "random"] as const),
  },
  healthIntervalMs: { env: "BERTH_HEALTH_INTERVAL_MS", default: "5000", meaning: "how often each node is asked for info", parse: positiveInt },
  fanOutTimeoutMs: { env: "BERTH_FANOUT_TIMEOUT_MS", default: "5000", meaning: "how long a call to every node waits for one", parse: positiveInt },
  stateResyncIntervalMs: {
    env: "BERTH_STATE_RESYNC_INTERVAL_MS",
    default: "60000",
    meaning: "how often each node's state is read again in full",
    parse: positiveInt,
  },
  // Named volumes.
  volumeBackend: {
    env: "BERTH_VOLUME_BACKEND",
    default: "local",
    meaning: "where named volumes keep their data",
    parse: oneOf(["local", "nfs", "shared-dir", "osd"] as const),
  },
  nfsServer: { env: "BERTH_NFS_SERVER", meaning: "nfs: the NFS server", parse: text },
  nfsExport: { env: "BERTH_NFS_EXPORT", meaning: "nfs: the server's exported path", parse: absolutePath },
  volumeRoot: { env: "BERTH_VOLUME_ROOT", meaning: "nfs, shared-dir: where the proxy sees the volumes' root", parse: absolutePath },
  volumeOwner: { env: "BERTH_VOLUME_OWNER", meaning: "uid:gid given to each new volume directory", parse: volumeOwner },
  osdDriver: { env: "BERTH_OSD_DRIVER", default: "nfs", meaning: "osd: the volume plugin's name", parse: text },
  // Who the callers are.
  authBackend: {
    env: "BERTH_AUTH_BACKEND",
    alias: "SWARM_AUTH_BACKEND",
    meaning: "how callers are authenticated",
    parse: oneOf(["keystone", "static", "none"] as const, (raw) => raw.toLowerCase()),
  },
  keystoneUrl: { env: "SWARM_KEYSTONE_URL", alias: "BERTH_KEYSTONE_URL", meaning: "the Keystone v3 URL", parse: keystoneUrl },
  tokenCacheSeconds: { env: "BERTH_TOKEN_CACHE_SECONDS", default: "30", meaning: "how long a Keystone answer is cached", parse: positiveInt },
  tokenCacheSize: { env: "BERTH_TOKEN_CACHE_SIZE", default: "10000", meaning: "how many Keystone answers are cached", parse: positiveInt },
  keystoneTimeoutMs: { env: "BERTH_KEYSTONE_TIMEOUT_MS", default: "5000", meaning: "how long a Keystone call may take", parse: positiveInt },
  keystoneMaxLookups: { env: "BERTH_KEYSTONE_MAX_LOOKUPS", default: "32", meaning: "Keystone lookups in progress at once", parse: positiveInt },
  keystoneMaxLookupsPerAddress: {
    env: "BERTH_KEYSTONE_MAX_LOOKUPS_PER_ADDRESS",
    default: "4",
    meaning: "Keystone lookups in progress at once from one client address",
    parse: positiveInt,
  },
  tokensFile: { env: "BERTH_TOKENS_FILE", meaning: "static: the tokens file", parse: text },
  adminTenantId: { env: "SWARM_ADMIN_TENANT_ID", meaning: "the project whose members are administrators", parse: tenantId },
  membersTenantId: { env: "SWARM_MEMBERS_TENANT_ID", meaning: "the project whose members alone may use the service", parse: tenantId },
  multiTenant: { env: "SWARM_MULTI_TENANT", default: "true", meaning: "false: plain pass-through, no scoping", parse: bool },
  networkAuthorization: { env: "SWARM_NETWORK_AUTHORIZATION", default: "true", meaning: "false: networks are shared by all tenants", parse: bool },
  tlsCert: { env: "BERTH_TLS_CERT", meaning: "the PEM certificate to serve HTTPS with", parse: text },
  tlsKey: { env: "BERTH_TLS_KEY", meaning: "the PEM key to serve HTTPS with", parse: text },
  // What calls may hold.
  maxBodyBytes: { env: "BERTH_MAX_BODY_BYTES", default: "1048576", meaning: "the largest JSON body a tenant may send", parse: positiveInt },
  engineTimeoutMs: { env: "BERTH_ENGINE_TIMEOUT_MS", default: "60000", meaning: "how long the proxy's own engine calls may take", parse: positiveInt },
  headersTimeoutMs: { env: "BERTH_HEADERS_TIMEOUT_MS", default: "60000", meaning: "how long a client may take to send a request's head", parse: positiveInt },
  tenantMaxCalls: { env: "BERTH_TENANT_MAX_CALLS", default: "128", meaning: "calls one tenant may have in progress", parse: positiveInt },
  maxCalls: { env: "BERTH_MAX_CALLS", default: "2048", meaning: "calls everyone together may have in progress", parse: positiveInt },
  // FDCS's policy files.
  flavorsEnforced: { env: "SWARM_FLAVORS_ENFORCED", default: "false", meaning: "flavors on", parse: bool },
  flavorsFile: { env: "SWARM_FLAVORS_FILE", default: "flavors.json", meaning: "the flavors file", parse: text },
  quotaEnforced: { env: "SWARM_ENFORCE_QUOTA", default: "false", meaning: "quotas on", parse: bool },
  quotaFile: { env: "SWARM_QUOTA_FILE", default: "quota.json", meaning: "the quota file", parse: text },
  apiFilterFile: {
    env: "SWARM_APIFILTER_FILE",
    default: "apifilter.json",
    meaning: "operations tenants may not call (the default only if it exists)",
    parse: text,
  },
  // What one container, and one tenant, may have.
  allowCapabilities: { env: "BERTH_ALLOW_CAPABILITIES", meaning: "capabilities tenants may add", parse: capabilities },
  tmpfsMaxMb: { env: "BERTH_TMPFS_MAX_MB", default: "64", meaning: "what a container's tmpfs mounts may hold together", parse: positiveInt },
  mountsMax: { env: "BERTH_MOUNTS_MAX", default: "64", meaning: "mount points one container may have", parse: positiveInt },
  metadataMaxBytes: { env: "BERTH_METADATA_MAX_BYTES", default: "65536", meaning: "what one object's labels, and a command, may hold", parse: positiveInt },
  shmMaxMb: { env: "BERTH_SHM_MAX_MB", default: "64", meaning: "the largest /dev/shm", parse: positiveInt },
  pidsLimitDefault: { env: "BERTH_PIDS_LIMIT_DEFAULT", default: "1024", meaning: "the PIDs limit of a container that gives none", parse: positiveInt },
  pidsLimitMax: { env: "BERTH_PIDS_LIMIT_MAX", default: "4096", meaning: "the highest PIDs limit a container may ask for", parse: positiveInt },
  healthcheckMinMs: {
    env: "BERTH_HEALTHCHECK_MIN_MS",
    default: "1000",
    meaning: "the shortest healthcheck interval, timeout and start period",
    parse: positiveInt,
  },
  ulimitsMax: {
    env: "BERTH_ULIMITS_MAX",
    default: "core=0,cpu=unlimited,data=unlimited,fsize=unlimited,locks=unlimited,nofile=1048576,nproc=unlimited,rss=unlimited,stack=unlimited",
    meaning: "the ulimits tenants may set, and their highest values",
    parse: ulimitsMax,
  },
  publishedPortsMax: { env: "BERTH_PUBLISHED_PORTS_MAX", default: "20", meaning: "host ports one container may publish", parse: positiveInt },
  publishedPortsTenantMax: {
    env: "BERTH_PUBLISHED_PORTS_TENANT_MAX",
    default: "100",
    meaning: "host ports a tenant's containers may publish together",
    parse: positiveInt,
  },
  networksTenantMax: { env: "BERTH_NETWORKS_TENANT_MAX", default: "20", meaning: "networks a tenant may have made", parse: positiveInt },
  tenantImageChanges: { env: "BERTH_TENANT_IMAGE_CHANGES", default: "false", meaning: "tenants may build, push, remove and load images", parse: bool },
  registryPrivateCidrs: {
    env: "BERTH_REGISTRY_PRIVATE_CIDRS",
    default: DEFAULT_PRIVATE_CIDRS.join(","),
    meaning: "address ranges tenants may not make engines connect to",
    parse: privateCidrs,
  },
  tenantRegistries: { env: "BERTH_TENANT_REGISTRIES", meaning: "registries tenants may use although they are in those ranges", parse: registries },
  tenantRuntime: { env: "BERTH_TENANT_RUNTIME", meaning: "the engine runtime every tenant container runs under", parse: runtime },
  networkMtu: { env: "BERTH_NETWORK_MTU", meaning: "the engines' hosts' network MTU, given to the networks the proxy creates", parse: mtu },
} satisfies Record<string, Setting<unknown>>;

export type SettingKey = keyof typeof SETTINGS;

/** The setting read under this variable name (its own or its alias). */
export function settingNamed(name: string): SettingKey | undefined {
  return (Object.keys(SETTINGS) as SettingKey[]).find((key) => {
    const setting: Setting<unknown> = SETTINGS[key];
    return setting.env === name || setting.alias === name;
  });
}
