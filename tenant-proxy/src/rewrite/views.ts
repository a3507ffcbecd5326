/**
 * What callers see of engine objects: tenants get their own names instead of the scoped engine
 * names, no `berth.*` labels, and nothing about other tenants' objects that an engine answer
 * carries along (containers attached to a shared network, for one). In a cluster, containers carry
 * their node as classic Swarm showed it: `node/name` in lists, a `Node` section in inspect, and
 * published ports on the node's address instead of 0.0.0.0. Pure functions over the engine's JSON,
 * one per object shape, used by lists, inspects, events and prunes alike.
 */
import { type Labels, type Scope, defineOwn, withoutReservedLabels } from "../ownership.ts";
import { MTU_OPTION } from "../policy/network-mtu.ts";
import type { ClusterNode } from "../upstream/cluster.ts";

type Json = Record<string, any>;

export const visibleLabels = <T extends Labels>(scope: Scope, labels: T): T => (scope.unrestricted ? labels : withoutReservedLabels(labels));

/** `/T_web` → `/web`, and legacy link names `/T_web/T_db` → `/web/db`. */
export function visibleContainerName(scope: Scope, name: string): string {
  // Nearly every name is one part: spared the split and join, which a list does 200 times.
  if (name.indexOf("/", 1) === -1) return scope.visibleName(name);
  return name
    .split("/")
    .map((part) => (part === "" ? part : scope.visibleName(part)))
    .join("/");
}

function visibleNetworkKeys(networkScope: Scope, networks: Json | null | undefined): Json | null | undefined {
  if (!networks) return networks;
  const visible: Json = {};
  for (const name of Object.keys(networks)) defineOwn(visible, networkScope.visibleName(name), networks[name]);
  return visible;
}

function visibleNetworkMode(networkScope: Scope, mode: unknown): unknown {
  if (typeof mode !== "string" || mode.startsWith("container:")) return mode;
  return networkScope.visibleName(mode);
}

/** `T_db:/T_web/db` style link strings and `T_vol:/data:rw` style binds. */
function visibleFirstPart(scope: Scope, value: string): string {
  const colon = value.indexOf(":");
  const head = colon === -1 ? value : value.slice(0, colon);
  const tail = colon === -1 ? "" : value.slice(colon);
  return visibleContainerName(scope, head) + tail;
}

function visibleLink(scope: Scope, link: string): string {
  const [target, alias] = link.split(":");
  return alias === undefined ? visibleContainerName(scope, target!) : `${visibleContainerName(scope, target!)}:${visibleContainerName(scope, alias)}`;
}

function visibleMounts(scope: Scope, mounts: Json[] | null | undefined): Json[] | null | undefined {
  return mounts?.map((mount) =>
    mount.Type === "volume" ? { ...mount, Name: mount.Name && scope.visibleName(mount.Name), Source: mount.Source && scope.unscopeText(mount.Source) } : mount,
  );
}

const onAllAddresses = (ip: unknown) => ip === undefined || ip === null || ip === "" || ip === "0.0.0.0" || ip === "::";

const uniqueBy = <T>(items: T[], key: (item: T) => string): T[] =>
  items.filter((item, index) => items.findIndex((other) => key(other) === key(item)) === index);

/** Ports published on every address (0.0.0.0 and ::) shown once, on the node's address. */
function onNodeAddress(ports: Json[] | null | undefined, host: string): Json[] | null | undefined {
  if (!ports) return ports;
  const mapped = ports.map((port) => (port.PublicPort && onAllAddresses(port.IP) ? { ...port, IP: host } : port));
  return uniqueBy(mapped, (port) => `${port.IP}|${port.PrivatePort}|${port.PublicPort}|${port.Type}`);
}

const uniqueBindings = (bindings: Json[]): Json[] => uniqueBy(bindings, (binding) => `${binding.HostIp}|${binding.HostPort}`);

/** Classic Swarm's `Node` section of an inspect. */
export function nodeSection(node: ClusterNode): Json {
  return {
    ID: node.name,
    IP: node.host ?? "",
    Addr: node.host ? `${node.host}` : "",
    Name: node.name,
    Cpus: node.cpus,
    Memory: node.memoryTotal,
    Labels: node.labels,
  };
}

/** An item of `GET /containers/json`; `node` is given in a cluster that shows node names. */
export function containerSummaryView(scope: Scope, networkScope: Scope, container: Json, node?: ClusterNode): Json {
  const names = (container.Names as string[] | null)?.map((name) => visibleContainerName(scope, name));
  return {
    ...container,
    Names: node ? names?.map((name) => `/${node.name}${name}`) : names,
    Labels: visibleLabels(scope, container.Labels as Labels),
    Ports: node?.host ? onNodeAddress(container.Ports as Json[] | null, node.host) : container.Ports,
    HostConfig: container.HostConfig && {
      ...container.HostConfig,
      NetworkMode: visibleNetworkMode(networkScope, container.HostConfig.NetworkMode),
    },
    NetworkSettings: container.NetworkSettings && {
      ...container.NetworkSettings,
      Networks: visibleNetworkKeys(networkScope, container.NetworkSettings.Networks),
    },
    Mounts: visibleMounts(scope, container.Mounts),
  };
}

/** `GET /containers/{id}/json`. */
export function containerInspectView(scope: Scope, networkScope: Scope, container: Json, node?: ClusterNode): Json {
  const host = container.HostConfig as Json | undefined;
  const settings = container.NetworkSettings as Json | undefined;
  const ports = settings?.Ports as Record<string, Json[] | null> | null | undefined;
  return {
    ...container,
    Name: typeof container.Name === "string" ? visibleContainerName(scope, container.Name) : container.Name,
    Config: container.Config && { ...container.Config, Labels: visibleLabels(scope, container.Config.Labels as Labels) },
    HostConfig: host && {
      ...host,
      Binds: (host.Binds as string[] | null)?.map((bind) => (bind.startsWith("/") ? bind : visibleFirstPart(scope, bind))),
      Links: (host.Links as string[] | null)?.map((link) => visibleLink(scope, link)),
      VolumesFrom: (host.VolumesFrom as string[] | null)?.map((from) => visibleFirstPart(scope, from)),
      NetworkMode: visibleNetworkMode(networkScope, host.NetworkMode),
      Mounts: (host.Mounts as Json[] | null)?.map((mount) =>
        mount.Type === "volume" && mount.Source ? { ...mount, Source: scope.visibleName(mount.Source) } : mount,
      ),
    },
    NetworkSettings: settings && {
      ...settings,
      Networks: settings.Networks && visibleEndpoints(scope, networkScope, settings.Networks),
      Ports:
        node?.host && ports
          ? Object.fromEntries(
              Object.entries(ports).map(([port, bindings]) => [
                port,
                bindings ? uniqueBindings(bindings.map((b) => (onAllAddresses(b.HostIp) ? { ...b, HostIp: node.host } : b))) : null,
              ]),
            )
          : settings.Ports,
    },
    Mounts: visibleMounts(scope, container.Mounts),
    ...(node ? { Node: nodeSection(node) } : {}),
  };
}

function visibleEndpoints(scope: Scope, networkScope: Scope, networks: Json): Json {
  return Object.fromEntries(
    Object.entries(networks).map(([name, endpoint]) => [
      networkScope.visibleName(name),
      endpoint && {
        ...endpoint,
        Links: (endpoint.Links as string[] | null)?.map((link) => visibleLink(scope, link)),
        Aliases: (endpoint.Aliases as string[] | null)?.map((alias) => scope.visibleName(alias)),
      },
    ]),
  );
}

/** A network (list item or inspect): only the caller's own containers stay in `Containers`. */
export function networkView(scope: Scope, networkScope: Scope, network: Json): Json {
  const containers = network.Containers as Record<string, Json> | null | undefined;
  return {
    ...network,
    ...(scope.unrestricted ? {} : { Options: withoutServiceOptions(network.Options), Services: ownServiceTasks(scope, network.Services) }),
    Name: networkScope.visibleName(network.Name),
    Labels: visibleLabels(scope, network.Labels as Labels),
    Containers:
      containers &&
      Object.fromEntries(
        Object.entries(containers)
          .filter(([, endpoint]) => typeof endpoint?.Name === "string" && scope.isOwnEngineName(endpoint.Name))
          .map(([id, endpoint]) => [id, { ...endpoint, Name: scope.visibleName(endpoint.Name) }]),
      ),
  };
}

/**
 * A swarm network's `Services` (a verbose inspect) list every endpoint the swarm's gossip knows on
 * it, from every node, by container name, address and node address: a tenant sees its own tasks
 * there, as in `Containers`, and no service without one of them.
 */
function ownServiceTasks(scope: Scope, services: unknown): unknown {
  if (!services || typeof services !== "object") return services;
  return Object.fromEntries(
    Object.entries(services as Record<string, Json>).flatMap(([name, service]) => {
      const tasks = ((service?.Tasks as Json[] | null) ?? [])
        .filter((task) => typeof task?.Name === "string" && scope.isOwnEngineName(task.Name))
        .map((task) => ({ ...task, Name: scope.visibleName(task.Name) }));
      return tasks.length > 0 ? [[name, { ...service, Tasks: tasks }]] : [];
    }),
  );
}

/**
 * A network's driver options as a tenant sees them: without the MTU the proxy set (tenants set no
 * driver options), which docker-compose would take for a changed network definition and refuse
 * the project's next `up` ("needs to be recreated").
 */
function withoutServiceOptions(options: unknown): unknown {
  if (!options || typeof options !== "object" || !(MTU_OPTION in options)) return options;
  const { [MTU_OPTION]: _set, ...rest } = options as Record<string, unknown>;
  return rest;
}

/**
 * A volume as its owner sees it. The driver options are the service's own (where the data lives);
 * tenants never set any, and docker-compose would take them for a changed volume definition.
 */
export function volumeView(scope: Scope, volume: Json): Json {
  return {
    ...volume,
    ...(scope.unrestricted ? {} : { Options: null }),
    Name: scope.visibleName(volume.Name),
    Labels: visibleLabels(scope, volume.Labels as Labels),
    Mountpoint: typeof volume.Mountpoint === "string" ? scope.unscopeText(volume.Mountpoint) : volume.Mountpoint,
  };
}
