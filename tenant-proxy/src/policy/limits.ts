/**
 * What one container may take from the host every tenant shares, beyond memory and CPUs (flavors
 * and quotas): processes, /dev/shm, healthcheck runs (each one an exec the engine starts) and
 * resource limits (ulimits). Each limit is the operator's setting; a request over it is refused,
 * naming the field, and a request that gives none gets the service's default, never "unlimited".
 */
import { badRequest } from "../http/errors.ts";
import { type Rules, FieldRefusal, checkFields } from "./fields.ts";

const MIB = 1024 * 1024;
/** dockerd's own /dev/shm size when a container gives none (`--default-shm-size`). */
const ENGINE_DEFAULT_SHM_BYTES = 64 * MIB;

export interface ContainerLimits {
  /** BERTH_PIDS_LIMIT_DEFAULT / BERTH_PIDS_LIMIT_MAX. */
  pids: { default: number; max: number };
  /** BERTH_SHM_MAX_MB. */
  shmMaxBytes: number;
  /** BERTH_HEALTHCHECK_MIN_MS, in nanoseconds as the API counts. */
  healthcheckMinNs: number;
  /** BERTH_ULIMITS_MAX: the names tenants may set and the highest soft and hard value of each (Infinity: unlimited). */
  ulimitsMax: ReadonlyMap<string, number>;
  /** BERTH_PUBLISHED_PORTS_MAX: one container's. */
  publishedPortsMax: number;
  /** BERTH_PUBLISHED_PORTS_TENANT_MAX: all of a tenant's containers' together. */
  publishedPortsTenantMax: number;
  /** BERTH_NETWORKS_TENANT_MAX: the networks a tenant made, its own bridges not counted. */
  networksTenantMax: number;
  /** BERTH_MOUNTS_MAX: one container's volumes, binds, mounts and tmpfs, its image's volumes included. */
  mountsMax: number;
}

/**
 * Why one more network would be over the tenant's limit. Every network takes a /24 from a pool all
 * tenants share (a node's bridge pool, the cluster store's overlay pool) and a VXLAN id.
 */
export function tenantNetworksExcess(max: number, inUse: number): string | undefined {
  return inUse + 1 > max ? `network limit exceeded: limit ${max} a tenant, in use ${inUse}, requested 1` : undefined;
}

/** The ulimit names the engine knows (go-units), for the setting. */
export const ULIMIT_NAMES = [
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
];

function wholeNumber(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw badRequest(`${field} must be a whole number`);
  return value;
}

/**
 * A create's PIDs limit: none (null, or the 0 the docker CLI sends when `--pids-limit` is not
 * given) gets the default; a negative one means unlimited and is refused, as is one over the max.
 */
export function pidsLimitForCreate(value: unknown, limits: ContainerLimits): number {
  if (value === undefined || value === null || value === 0) return limits.pids.default;
  return checkPidsLimit(value, "HostConfig.PidsLimit", limits);
}

/** An update's PIDs limit: null leaves it as it is; 0 and negative values mean unlimited there. */
export function checkPidsLimitUpdate(value: unknown, limits: ContainerLimits): void {
  if (value === undefined || value === null) return;
  if (value === 0) throw new FieldRefusal("PidsLimit", "an unlimited PIDs limit is not allowed");
  checkPidsLimit(value, "PidsLimit", limits);
}

function checkPidsLimit(value: unknown, field: string, limits: ContainerLimits): number {
  const pids = wholeNumber(value, field);
  if (pids < 0) throw new FieldRefusal(field, "an unlimited PIDs limit is not allowed");
  if (pids > limits.pids.max) throw new FieldRefusal(field, `${pids} is over the limit of ${limits.pids.max} processes`);
  return pids;
}

/** /dev/shm: the engine's default unless that is over the max; more than the max is refused. */
export function shmSizeForCreate(value: unknown, limits: ContainerLimits): number {
  if (value === undefined || value === null || value === 0) return Math.min(ENGINE_DEFAULT_SHM_BYTES, limits.shmMaxBytes);
  const bytes = wholeNumber(value, "HostConfig.ShmSize");
  if (bytes < 0) throw badRequest("HostConfig.ShmSize cannot be negative");
  if (bytes > limits.shmMaxBytes) {
    throw new FieldRefusal("HostConfig.ShmSize", `a /dev/shm of ${Math.round(bytes / MIB)} MB is over the limit of ${Math.round(limits.shmMaxBytes / MIB)} MB`);
  }
  return bytes;
}

/**
 * Labels and a container's command are copied into every list answer (`docker ps`, `volume ls`,
 * `network ls`), which the proxy and the health checks read whole: a tenant's megabytes there
 * would cost the proxy memory on every list (measured: 40 containers with 1 MB of labels each,
 * 8 concurrent `docker ps -a`, 600-740 MB). So each may hold at most BERTH_METADATA_MAX_BYTES,
 * counted as the JSON the engine gets.
 */
export function checkMetadataSize(value: unknown, field: string, maxBytes: number): void {
  const bytes = value === undefined || value === null ? 0 : Buffer.byteLength(JSON.stringify(value));
  if (bytes > maxBytes) throw new FieldRefusal(field, `${bytes} bytes is over the limit of ${maxBytes} bytes`);
}

/**
 * Each mount point of a container is a mount on the node (and an anonymous volume, a directory and
 * a `docker ps` entry, for the `-v /path` kind), so a container has at most BERTH_MOUNTS_MAX of
 * them: its anonymous volumes, its image's, its binds, mounts and tmpfs, each target counted once.
 * (Measured: one create of 60 KB made 5000 volumes and 5000 mounts on the node.)
 */
export function checkMountCount(body: Record<string, any>, imageVolumes: unknown, limits: ContainerLimits): void {
  const host = body.HostConfig as Record<string, any>;
  const keys = (value: unknown) => (value !== null && typeof value === "object" ? Object.keys(value) : []);
  const list = (value: unknown) => (Array.isArray(value) ? value : []);
  const targets = new Set([
    ...keys(body.Volumes),
    ...keys(imageVolumes),
    ...list(host.Binds).map((bind) => String(bind).split(":")[String(bind).includes(":") ? 1 : 0]),
    ...list(host.Mounts).map((mount) => String(mount?.Target)),
    ...keys(host.Tmpfs),
  ]);
  if (targets.size > limits.mountsMax) {
    throw new FieldRefusal(
      "HostConfig",
      `${targets.size} mounts is over the limit of ${limits.mountsMax} a container (volumes, binds, mounts and tmpfs, the image's volumes included)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Healthchecks

const HEALTHCHECK_RULES: Rules = {
  Test: "any",
  Interval: "any",
  Timeout: "any",
  StartPeriod: "any",
  Retries: "any",
  // Newer than API 1.41 (docker CLI 25+): dockerd 20.10 ignores it.
  StartInterval: "drop",
};
const DURATIONS = ["Interval", "Timeout", "StartPeriod"] as const;
/** The durations an image's healthcheck may bring in that set how often and how long checks run. */
const INHERITED = ["Interval", "Timeout"] as const;

/** A duration in nanoseconds as Go prints the simple ones: 1s, 500ms, 20us, 7ns. */
export function duration(ns: number): string {
  for (const [unit, size] of [
    ["s", 1e9],
    ["ms", 1e6],
    ["us", 1e3],
  ] as const)
    if (ns % size === 0) return `${ns / size}${unit}`;
  return `${ns}ns`;
}

/**
 * A create's healthcheck: an interval, timeout or start period it gives (not 0, which means "the
 * image's, or the engine's default") must be at least the minimum.
 */
export function checkHealthcheck(value: unknown, limits: ContainerLimits): Record<string, unknown> | null | undefined {
  if (value === undefined || value === null) return value;
  const healthcheck = checkFields(value, HEALTHCHECK_RULES, "Healthcheck");
  for (const key of DURATIONS) {
    const ns = healthcheck[key] ?? 0;
    const field = `Healthcheck.${key}`;
    if (wholeNumber(ns, field) !== 0 && (ns as number) < limits.healthcheckMinNs) {
      throw new FieldRefusal(field, `${duration(ns as number)} is shorter than the minimum of ${duration(limits.healthcheckMinNs)}`);
    }
  }
  return healthcheck;
}

/**
 * The healthcheck a create runs with, given its image's: the engine takes the image's interval and
 * timeout where the create gives none, so an image's below the minimum is raised to it here.
 */
export function healthcheckOverImage(
  own: Record<string, unknown> | null | undefined,
  image: Record<string, unknown> | null | undefined,
  limits: ContainerLimits,
): Record<string, unknown> | null | undefined {
  if (!image) return own;
  const raised = INHERITED.filter(
    (key) => !own?.[key] && typeof image[key] === "number" && (image[key] as number) > 0 && (image[key] as number) < limits.healthcheckMinNs,
  );
  if (raised.length === 0) return own;
  return { ...(own ?? {}), ...Object.fromEntries(raised.map((key) => [key, limits.healthcheckMinNs])) };
}

// ---------------------------------------------------------------------------------------------
// Ulimits

/**
 * Ulimits a tenant sets: only the names the operator lists, soft and hard each at most the
 * operator's maximum for that name (negative values mean unlimited to the engine). Names go to the
 * engine in lower case, as the check read them.
 */
export function checkUlimits(value: unknown, limits: ContainerLimits, field: string): unknown {
  if (value === undefined || value === null) return value;
  if (!Array.isArray(value)) throw badRequest(`${field} must be a list`);
  return value.map((entry) => {
    const ulimit = checkFields(entry, { Name: "any", Soft: "any", Hard: "any" }, field);
    if (typeof ulimit.Name !== "string") throw badRequest(`${field}: every ulimit needs a Name`);
    const name = ulimit.Name.toLowerCase();
    const max = limits.ulimitsMax.get(name);
    if (max === undefined) {
      const allowed = [...limits.ulimitsMax.keys()].join(", ");
      throw new FieldRefusal(field, `the ${name} limit cannot be set here (allowed: ${allowed || "none"})`);
    }
    for (const key of ["Soft", "Hard"] as const) {
      const raw = wholeNumber(ulimit[key] ?? 0, `${field}.${key}`);
      const asked = raw < 0 ? Infinity : raw;
      if (asked > max) throw new FieldRefusal(field, `${name} ${asked === Infinity ? "unlimited" : asked} is over the limit of ${max}`);
    }
    return { ...ulimit, Name: name };
  });
}
