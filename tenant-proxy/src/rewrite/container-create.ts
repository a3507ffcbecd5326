/**
 * Planning a tenant's container create, in three pure steps around one effect. `checkCreateBody`
 * applies the field rules (host restrictions, reserved labels, unknown fields) and normalises the
 * body; `createReferences` lists every object the body names (links, volumes-from, container and
 * network modes, endpoints, named volumes); the pipeline resolves them inside the tenant; then
 * `scopeCreateBody` writes the engine's version: scoped names, full ids, the owner label, and the
 * tenant's name as a network alias so containers still find each other by the names they chose.
 */
import { badRequest } from "../http/errors.ts";
import { type Scope, checkLabels, checkName } from "../ownership.ts";
import { CONTAINER_CONFIG_RULES, ENDPOINT_RULES, FieldRefusal, MOUNT_RULES, hostConfigRules, VOLUME_OPTIONS_RULES, checkFields } from "../policy/fields.ts";
import { flavorForCreate } from "../policy/flavors.ts";
import { checkHealthcheck, checkMetadataSize, checkUlimits, pidsLimitForCreate, shmSizeForCreate } from "../policy/limits.ts";
import { withoutRawSockets } from "../policy/raw-sockets.ts";
import { withTenantRuntime } from "../policy/runtime.ts";
import { limitTmpfs } from "../policy/tmpfs.ts";
import type { ResolvedContainer, ResolvedNetwork } from "../resolver.ts";
import type { Policy } from "../settings-types.ts";

type Json = Record<string, any>;

export interface CreateReferences {
  containers: Set<string>;
  networks: Set<string>;
  /** Named volumes (tenant names), which must be the tenant's or not exist yet. */
  volumes: Set<string>;
}

export interface ResolvedReferences {
  containers: Map<string, ResolvedContainer>;
  networks: Map<string, ResolvedNetwork>;
}

const BUILTIN_NETWORK_MODES = new Set(["", "default", "bridge", "none"]);
/**
 * Endpoints named after docker's default network: left as they are, for the engine (the caller's
 * own bridge replaces them once the node is chosen, see tenant-bridge.ts).
 */
const DEFAULT_ENDPOINTS = new Set(["default", "bridge"]);

/** A bind is `source:target[:options]`; a source starting with `/` is a host path. */
export function parseBind(bind: unknown): { source?: string; rest: string } {
  if (typeof bind !== "string" || bind === "") throw badRequest(`HostConfig.Binds: invalid entry ${JSON.stringify(bind)}`);
  const parts = bind.split(":");
  if (parts.length === 1) return { rest: bind };
  const [source, ...rest] = parts;
  if (source!.startsWith("/") || source!.startsWith(".") || source!.startsWith("~")) {
    throw new FieldRefusal("HostConfig.Binds", `host path ${source} cannot be mounted: host bind mounts are not available`);
  }
  return { source: source!, rest: rest.join(":") };
}

function containerRefOf(mode: unknown): string | undefined {
  return typeof mode === "string" && mode.startsWith("container:") ? mode.slice("container:".length) : undefined;
}

/**
 * Field rules, reserved labels and shapes, then the operator's resource policy (flavors, tmpfs and
 * /dev/shm sizes, PIDs, ulimits, healthchecks), the service's runtime and a private cgroup namespace
 * (on a cgroup v1 host the engine's default is the host's, which shows the host's cgroup paths); returns the body the
 * rest of the plan works on.
 */
export function checkCreateBody(body: Json | undefined, policy: Policy): Json {
  if (body === undefined) throw badRequest("a container create needs a JSON body");
  const config = checkFields(body, CONTAINER_CONFIG_RULES, "");
  checkLabels(config.Labels, "Labels");
  checkMetadataSize(config.Labels, "Labels", policy.metadataMaxBytes);
  checkMetadataSize([config.Entrypoint, config.Cmd], "Cmd and Entrypoint", policy.metadataMaxBytes);
  let host = checkFields(config.HostConfig, hostConfigRules(policy.allowedCapabilities), "HostConfig");
  if (host.Binds !== undefined && host.Binds !== null) {
    if (!Array.isArray(host.Binds)) throw badRequest("HostConfig.Binds must be a list");
    host.Binds.forEach(parseBind);
  }
  if (host.Mounts !== undefined && host.Mounts !== null) {
    if (!Array.isArray(host.Mounts)) throw badRequest("HostConfig.Mounts must be a list");
    host.Mounts = host.Mounts.map((mount, index) => {
      const checked = checkFields(mount, MOUNT_RULES, `HostConfig.Mounts[${index}]`);
      if (checked.VolumeOptions !== undefined && checked.VolumeOptions !== null) {
        const options = checkFields(checked.VolumeOptions, VOLUME_OPTIONS_RULES, `HostConfig.Mounts[${index}].VolumeOptions`);
        checkLabels(options.Labels, `HostConfig.Mounts[${index}].VolumeOptions.Labels`);
        checkMetadataSize(options.Labels, `HostConfig.Mounts[${index}].VolumeOptions.Labels`, policy.metadataMaxBytes);
        checked.VolumeOptions = options;
      }
      return checked;
    });
  }
  host = limitTmpfs(host, policy.tmpfsMaxBytes);
  host = withoutRawSockets(host);
  host = withTenantRuntime(host, policy.tenantRuntime);
  if (policy.flavors) host = flavorForCreate(policy.flavors, host);
  const { limits } = policy;
  host = {
    ...host,
    PidsLimit: pidsLimitForCreate(host.PidsLimit, limits),
    ShmSize: shmSizeForCreate(host.ShmSize, limits),
    Ulimits: checkUlimits(host.Ulimits, limits, "HostConfig.Ulimits"),
    CgroupnsMode: "private",
  };
  const healthcheck = checkHealthcheck(config.Healthcheck, limits);
  const networking = checkFields(config.NetworkingConfig, { EndpointsConfig: "any" }, "NetworkingConfig");
  const endpoints = networking.EndpointsConfig as Json | null | undefined;
  if (endpoints !== undefined && endpoints !== null) {
    if (typeof endpoints !== "object" || Array.isArray(endpoints)) throw badRequest("NetworkingConfig.EndpointsConfig must be an object");
    networking.EndpointsConfig = Object.fromEntries(
      Object.entries(endpoints).map(([network, endpoint]) => [network, checkFields(endpoint, ENDPOINT_RULES, `NetworkingConfig.EndpointsConfig.${network}`)]),
    );
  }
  return { ...config, ...(healthcheck !== undefined ? { Healthcheck: healthcheck } : {}), HostConfig: host, NetworkingConfig: networking };
}

function linkTarget(link: unknown, where: string): string {
  if (typeof link !== "string" || link === "") throw badRequest(`${where}: invalid link ${JSON.stringify(link)}`);
  return link.split(":")[0]!;
}

function volumesFromRef(entry: unknown): string {
  if (typeof entry !== "string" || entry === "") throw badRequest(`HostConfig.VolumesFrom: invalid entry ${JSON.stringify(entry)}`);
  return entry.split(":")[0]!;
}

export function createReferences(body: Json): CreateReferences {
  const host = body.HostConfig as Json;
  const refs: CreateReferences = { containers: new Set(), networks: new Set(), volumes: new Set() };
  for (const link of (host.Links as unknown[] | null) ?? []) refs.containers.add(linkTarget(link, "HostConfig.Links"));
  for (const entry of (host.VolumesFrom as unknown[] | null) ?? []) refs.containers.add(volumesFromRef(entry));
  for (const mode of [host.NetworkMode, host.PidMode, host.IpcMode]) {
    const ref = containerRefOf(mode);
    if (ref !== undefined) refs.containers.add(ref);
  }
  const networkMode = host.NetworkMode;
  if (typeof networkMode === "string" && !BUILTIN_NETWORK_MODES.has(networkMode) && containerRefOf(networkMode) === undefined) {
    refs.networks.add(networkMode);
  }
  for (const [network, endpoint] of Object.entries((body.NetworkingConfig?.EndpointsConfig as Json | null) ?? {})) {
    if (!DEFAULT_ENDPOINTS.has(network)) refs.networks.add(network);
    for (const link of (endpoint?.Links as unknown[] | null) ?? []) refs.containers.add(linkTarget(link, `EndpointsConfig.${network}.Links`));
  }
  for (const bind of (host.Binds as unknown[] | null) ?? []) {
    const { source } = parseBind(bind);
    if (source !== undefined) refs.volumes.add(checkName("volume", source));
  }
  for (const mount of (host.Mounts as Json[] | null) ?? []) {
    if (mount.Type === "volume" && typeof mount.Source === "string" && mount.Source !== "") refs.volumes.add(checkName("volume", mount.Source));
  }
  return refs;
}

function resolvedContainer(resolved: ResolvedReferences, ref: string): ResolvedContainer {
  const found = resolved.containers.get(ref);
  if (!found) throw new Error(`unresolved container reference ${ref}`);
  return found;
}

function resolvedNetwork(resolved: ResolvedReferences, ref: string): ResolvedNetwork {
  const found = resolved.networks.get(ref);
  if (!found) throw new Error(`unresolved network reference ${ref}`);
  return found;
}

function scopeLink(resolved: ResolvedReferences, scope: Scope, link: string): string {
  const [target, alias] = link.split(":");
  return `${resolvedContainer(resolved, target!).engineName}:${alias ?? scope.visibleName(target!.replace(/^\//, ""))}`;
}

function scopeMode(resolved: ResolvedReferences, mode: unknown): unknown {
  const ref = containerRefOf(mode);
  return ref === undefined ? mode : `container:${resolvedContainer(resolved, ref).id}`;
}

/**
 * The engine's version of a checked body. `visibleName` is the tenant's name for the container
 * (undefined when it gave none), added as an alias on its user-defined networks.
 */
export function scopeCreateBody(body: Json, scope: Scope, resolved: ResolvedReferences, visibleName: string | undefined): Json {
  const host = { ...(body.HostConfig as Json) };
  if (host.Links) host.Links = (host.Links as string[]).map((link) => scopeLink(resolved, scope, link));
  if (host.VolumesFrom) {
    host.VolumesFrom = (host.VolumesFrom as string[]).map((entry) => {
      const [ref, mode] = entry.split(":");
      const target = resolvedContainer(resolved, ref!).engineName;
      return mode === undefined ? target : `${target}:${mode}`;
    });
  }
  host.PidMode = scopeMode(resolved, host.PidMode);
  host.IpcMode = scopeMode(resolved, host.IpcMode);
  if (typeof host.NetworkMode === "string" && !BUILTIN_NETWORK_MODES.has(host.NetworkMode)) {
    host.NetworkMode =
      containerRefOf(host.NetworkMode) !== undefined ? scopeMode(resolved, host.NetworkMode) : resolvedNetwork(resolved, host.NetworkMode).engineName;
  }
  if (host.Binds) {
    host.Binds = (host.Binds as string[]).map((bind) => {
      const { source, rest } = parseBind(bind);
      return source === undefined ? rest : `${scope.engineName(source)}:${rest}`;
    });
  }
  if (host.Mounts) {
    host.Mounts = (host.Mounts as Json[]).map((mount) => {
      if (mount.Type !== "volume" || !mount.Source) return mount;
      const options = mount.VolumeOptions as Json | undefined;
      return {
        ...mount,
        Source: scope.engineName(mount.Source),
        VolumeOptions: options && { ...options, Labels: { ...(options.Labels ?? {}), ...scope.ownerLabels() } },
      };
    });
  }

  // Keyed by network names a tenant chose: no prototype, so "__proto__" or "constructor" are plain keys.
  const endpoints: Json = Object.create(null);
  for (const [ref, endpoint] of Object.entries((body.NetworkingConfig?.EndpointsConfig as Json | null) ?? {})) {
    const scoped: Json = { ...endpoint };
    if (endpoint?.Links) scoped.Links = (endpoint.Links as string[]).map((link) => scopeLink(resolved, scope, link));
    if (DEFAULT_ENDPOINTS.has(ref)) {
      endpoints[ref] = scoped;
      continue;
    }
    const network = resolvedNetwork(resolved, ref);
    if (!network.predefined && visibleName !== undefined) {
      const aliases = (endpoint?.Aliases as string[] | null) ?? [];
      scoped.Aliases = aliases.includes(visibleName) ? aliases : [...aliases, visibleName];
    }
    endpoints[network.engineName] = scoped;
  }
  const mode = host.NetworkMode;
  const userNetworkMode = typeof mode === "string" && !BUILTIN_NETWORK_MODES.has(mode) && !mode.startsWith("container:");
  if (userNetworkMode && visibleName !== undefined && endpoints[mode] === undefined) {
    endpoints[mode] = { Aliases: [visibleName] };
  }

  return {
    ...body,
    Labels: { ...((body.Labels as Json | null) ?? {}), ...scope.ownerLabels() },
    HostConfig: host,
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
}
