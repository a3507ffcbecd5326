/**
 * Field-by-field decisions for the JSON bodies tenants send. Every field of the v1.41 schema (and
 * the few newer ones current clients send) is listed with what a tenant may put there; a field not
 * listed is refused, and so is a field spelled with other capitals (Go's JSON decoder would accept
 * `privileged` for `Privileged`). Fields newer than the engine's API are dropped, since the engine
 * ignores them anyway and the proxy forwards only what it checked. This is where FDCS's documented
 * but never enforced host restrictions are enforced: each refusal is a 403 naming the field.
 */
import { Refusal, badRequest } from "../http/errors.ts";

/** A rule returns nothing when the value is acceptable, or why it is not. */
export type Rule = "any" | "drop" | ((value: unknown) => string | undefined);
export type Rules = Record<string, Rule>;

const isUnset = (value: unknown): boolean =>
  value === undefined ||
  value === null ||
  value === "" ||
  value === false ||
  value === 0 ||
  (Array.isArray(value) && value.length === 0) ||
  (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);

export const unset =
  (why: string): Rule =>
  (value) =>
    isUnset(value) ? undefined : why;

export const oneOf =
  (allowed: readonly unknown[], why: string): Rule =>
  (value) =>
    value === undefined || value === null || allowed.includes(value) ? undefined : why;

export class FieldRefusal extends Refusal {
  constructor(field: string, why: string) {
    super(403, `${field}: ${why}`, "host-restriction", field);
  }
}

/**
 * Checks an object against its rules, dropping the fields marked "drop", and returns it. Unknown
 * fields are a 400 (the request is not understood); refused values a 403 (it is understood and
 * not allowed).
 */
export function checkFields(value: unknown, rules: Rules, where: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw badRequest(`${where} must be a JSON object`);
  const checked: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(value)) {
    // Own keys only: "constructor" or "toString" are unknown fields, not Object.prototype members.
    const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
    const field = where ? `${where}.${key}` : key;
    if (rule === undefined) {
      const sameButCase = Object.keys(rules).find((known) => known.toLowerCase() === key.toLowerCase());
      throw badRequest(sameButCase ? `unknown field ${field} (did you mean ${sameButCase}?)` : `unknown field ${field}`, field);
    }
    if (rule === "drop") continue;
    if (rule !== "any") {
      const why = rule(fieldValue);
      if (why !== undefined) throw new FieldRefusal(field, why);
    }
    checked[key] = fieldValue;
  }
  return checked;
}

const HOST_MODE = "the host's namespaces are not available to tenants";
/** A chosen MAC address could be another container's, whose traffic it would then take. */
const ENGINE_MAC = unset("choosing a MAC address is not allowed: the engine assigns one");

/** The part of HostConfig that `docker update` may change as well. */
export const RESOURCE_RULES: Rules = {
  CpuShares: "any",
  Memory: "any",
  CgroupParent: unset("a cgroup parent places the container outside the service's cgroups"),
  BlkioWeight: "any",
  BlkioWeightDevice: unset("device throttling names host devices"),
  BlkioDeviceReadBps: unset("device throttling names host devices"),
  BlkioDeviceWriteBps: unset("device throttling names host devices"),
  BlkioDeviceReadIOps: unset("device throttling names host devices"),
  BlkioDeviceWriteIOps: unset("device throttling names host devices"),
  CpuPeriod: "any",
  CpuQuota: "any",
  CpuRealtimePeriod: unset("real-time scheduling is not available to tenants"),
  CpuRealtimeRuntime: unset("real-time scheduling is not available to tenants"),
  CpusetCpus: "any",
  CpusetMems: "any",
  Devices: unset("host devices are not available to tenants"),
  DeviceCgroupRules: unset("device cgroup rules are not available to tenants"),
  DeviceRequests: unset("device requests (GPUs) are not available to tenants"),
  KernelMemory: "any",
  KernelMemoryTCP: "any",
  MemoryReservation: "any",
  MemorySwap: "any",
  MemorySwappiness: "any",
  NanoCpus: "any",
  OomKillDisable: unset("disabling the OOM killer is not allowed"),
  Init: "any",
  PidsLimit: "any", // checked against the operator's limits (limits.ts)
  Ulimits: "any", // checked against the operator's limits (limits.ts)
  CpuCount: unset("Windows-only setting"),
  CpuPercent: unset("Windows-only setting"),
  IOMaximumIOps: unset("Windows-only setting"),
  IOMaximumBandwidth: unset("Windows-only setting"),
};

export const UPDATE_RULES: Rules = {
  ...RESOURCE_RULES,
  RestartPolicy: "any",
};

const PORT_RANGE = { low: 32768, high: 61000 };

const PORT_BINDING_RULES: Rules = { HostIp: "any", HostPort: "any" }; // checked by checkPortBindings

function checkPortBindings(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) return "must be an object";
  for (const [port, bindings] of Object.entries(value)) {
    if (bindings === null) continue;
    if (!Array.isArray(bindings)) return `${port} must list its bindings`;
    for (const [index, entry] of bindings.entries()) {
      // Field by field: a `hostport` twin would otherwise be the engine's HostPort, unchecked.
      const binding = checkFields(entry, PORT_BINDING_RULES, `HostConfig.PortBindings["${port}"][${index}]`);
      const hostIp = binding.HostIp ?? "";
      if (hostIp !== "" && hostIp !== "0.0.0.0" && hostIp !== "::") return `binding ${port} to host address ${String(hostIp)} is not allowed`;
      const hostPort = String(binding.HostPort ?? "");
      if (hostPort === "" || hostPort === "0") continue;
      const range = /^(\d+)(?:-(\d+))?$/.exec(hostPort);
      const low = range ? Number(range[1]) : NaN;
      const high = range?.[2] ? Number(range[2]) : low;
      if (!range || low < PORT_RANGE.low || high > PORT_RANGE.high || low > high) {
        return `host port ${hostPort} is outside ${PORT_RANGE.low}-${PORT_RANGE.high}, the range open to containers`;
      }
    }
  }
  return undefined;
}

const NO_NEW_PRIVILEGES = new Set(["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"]);

/** The HostConfig rules, with the operator's capability allow-list (BERTH_ALLOW_CAPABILITIES). */
export function hostConfigRules(allowedCapabilities: ReadonlySet<string>): Rules {
  return {
    ...HOST_CONFIG_RULES,
    CapAdd: (value) => {
      if (value === null || value === undefined) return undefined;
      if (!Array.isArray(value)) return "must be a list";
      const refused = value.map((c) => String(c).toUpperCase().replace(/^CAP_/, "")).filter((c) => !allowedCapabilities.has(c));
      if (refused.length === 0) return undefined;
      const allowed = allowedCapabilities.size > 0 ? ` (allowed here: ${[...allowedCapabilities].join(", ")})` : "";
      return `adding capabilities is not allowed: ${refused.join(", ")}${allowed}`;
    },
  };
}

const HOST_CONFIG_RULES: Rules = {
  ...RESOURCE_RULES,
  Binds: "any", // checked and scoped with the volume references
  ContainerIDFile: "any", // a client-side file name the engine ignores
  LogConfig: (value) => {
    if (!value) return undefined;
    const config = checkFields(value, { Type: "any", Config: "any" }, "HostConfig.LogConfig");
    if (config.Type !== undefined && config.Type !== "") return "only the service's default log driver is available";
    return isUnset(config.Config) ? undefined : "log options are not available to tenants";
  },
  NetworkMode: (value) => (value === "host" ? HOST_MODE : undefined),
  PortBindings: checkPortBindings, // counted with the image's exposed ports (ports.ts)
  RestartPolicy: "any",
  AutoRemove: "any",
  VolumeDriver: unset("volume drivers are chosen by the service"),
  VolumesFrom: "any", // scoped with the container references
  Mounts: "any", // checked per mount with the volume references
  CapAdd: unset("adding capabilities is not allowed"), // relaxed by hostConfigRules' allow-list
  CapDrop: "any",
  CgroupnsMode: oneOf(["", "private"], HOST_MODE), // always private (container-create.ts)
  Dns: "any",
  DnsOptions: "any",
  DnsSearch: "any",
  ExtraHosts: "any",
  GroupAdd: "any",
  IpcMode: (value) => (value === "host" ? HOST_MODE : undefined),
  Cgroup: unset("joining another cgroup is not allowed"),
  Links: "any", // scoped with the container references
  OomScoreAdj: (value) => (typeof value === "number" && value < 0 ? "a negative OOM score adjustment is not allowed" : undefined),
  PidMode: (value) => (value === "host" ? HOST_MODE : undefined),
  Privileged: unset("privileged containers are not allowed"),
  PublishAllPorts: "any",
  ReadonlyRootfs: "any",
  SecurityOpt: (value) =>
    value === null || value === undefined || (Array.isArray(value) && value.every((opt) => NO_NEW_PRIVILEGES.has(String(opt))))
      ? undefined
      : "only no-new-privileges may be set",
  StorageOpt: unset("storage options are not available to tenants"),
  Tmpfs: "any",
  UTSMode: unset(HOST_MODE),
  UsernsMode: unset(HOST_MODE),
  ShmSize: "any", // checked against the operator's limits (limits.ts)
  Sysctls: unset("sysctls are not available to tenants"),
  Runtime: oneOf(["", "runc"], "only the default runtime is available"),
  ConsoleSize: "any",
  Isolation: oneOf(["", "default"], "isolation modes are not available"),
  MaskedPaths: oneOf([], "the masked paths are fixed by the service"),
  ReadonlyPaths: oneOf([], "the read-only paths are fixed by the service"),
  // Newer than API 1.41: current clients send them; dockerd 20.10 ignores them.
  Annotations: unset("annotations need a newer engine"),
};

export const CONTAINER_CONFIG_RULES: Rules = {
  Hostname: "any",
  Domainname: "any",
  User: "any",
  AttachStdin: "any",
  AttachStdout: "any",
  AttachStderr: "any",
  ExposedPorts: "any",
  Tty: "any",
  OpenStdin: "any",
  StdinOnce: "any",
  Env: "any",
  Cmd: "any",
  Healthcheck: "any", // checked against the operator's limits (limits.ts)
  ArgsEscaped: "any",
  Image: "any",
  Volumes: "any", // anonymous volumes, owned through their container
  WorkingDir: "any",
  Entrypoint: "any",
  NetworkDisabled: "any",
  MacAddress: ENGINE_MAC,
  OnBuild: "any",
  Labels: "any", // checked against the reserved prefix
  StopSignal: "any",
  StopTimeout: "any",
  Shell: "any",
  HostConfig: "any", // checked with HOST_CONFIG_RULES
  NetworkingConfig: "any", // checked with ENDPOINT_RULES
};

export const ENDPOINT_RULES: Rules = {
  IPAMConfig: "any",
  Links: "any", // scoped with the container references
  Aliases: "any",
  NetworkID: unset("is set by the engine"),
  EndpointID: unset("is set by the engine"),
  Gateway: "any",
  IPAddress: "any",
  IPPrefixLen: "any",
  IPv6Gateway: "any",
  GlobalIPv6Address: "any",
  GlobalIPv6PrefixLen: "any",
  MacAddress: ENGINE_MAC,
  DriverOpts: unset("endpoint driver options are not available to tenants"),
  // Newer than API 1.41 (docker CLI 25+ sends them empty).
  GwPriority: "drop",
  DNSNames: "drop",
};

export const EXEC_CONFIG_RULES: Rules = {
  AttachStdin: "any",
  AttachStdout: "any",
  AttachStderr: "any",
  ConsoleSize: "any",
  DetachKeys: "any",
  Detach: "any",
  Tty: "any",
  Env: "any",
  Cmd: "any",
  Privileged: unset("privileged exec is not allowed"),
  User: "any",
  WorkingDir: "any",
};

export const EXEC_START_RULES: Rules = {
  Detach: "any",
  Tty: "any",
  ConsoleSize: "any",
};

export const MOUNT_RULES: Rules = {
  Target: "any",
  Source: "any",
  Type: oneOf(["volume", "tmpfs"], "only volume and tmpfs mounts are available (host bind mounts are not)"),
  ReadOnly: "any",
  Consistency: "any",
  BindOptions: unset("bind mounts are not available"),
  VolumeOptions: "any", // checked with VOLUME_OPTIONS_RULES
  TmpfsOptions: "any",
};

export const VOLUME_OPTIONS_RULES: Rules = {
  NoCopy: "any",
  Labels: "any", // checked against the reserved prefix
  DriverConfig: unset("volume drivers are chosen by the service"),
};

export const NETWORK_CREATE_RULES: Rules = {
  Name: "any",
  CheckDuplicate: "any",
  Driver: oneOf(["", "bridge", "overlay"], "only bridge and overlay networks are available"),
  Internal: "any",
  Attachable: "any",
  Ingress: unset("ingress networks belong to swarm mode"),
  IPAM: (value) => {
    if (!value) return undefined;
    const ipam = checkFields(value, { Driver: "any", Config: "any", Options: "any" }, "IPAM");
    if (ipam.Driver !== undefined && ipam.Driver !== "" && ipam.Driver !== "default") return "only the default IPAM driver is available";
    if (!isUnset(ipam.Options)) return "IPAM options are not available to tenants";
    if (!isUnset(ipam.Config)) return "custom subnets are not available: the engine assigns one that cannot clash with the hosts' networks";
    return undefined;
  },
  EnableIPv6: unset("IPv6 networks are not available"),
  Options: unset("network driver options are not available to tenants"),
  Labels: "any", // checked against the reserved prefix
  Scope: "drop",
  ConfigOnly: unset("config-only networks are not available"),
  ConfigFrom: unset("config-only networks are not available"),
};

export const VOLUME_CREATE_RULES: Rules = {
  Name: "any",
  Driver: oneOf(["", "local"], "volume drivers are chosen by the service"),
  DriverOpts: unset("volume driver options would mount host paths or devices"),
  Labels: "any", // checked against the reserved prefix
};

export const NETWORK_CONNECT_RULES: Rules = {
  Container: "any",
  EndpointConfig: "any", // checked with ENDPOINT_RULES
};

export const NETWORK_DISCONNECT_RULES: Rules = {
  Container: "any",
  Force: "any",
};
