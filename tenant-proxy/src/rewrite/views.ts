/**
 * What tenants see of engine objects: their own names instead of the scoped engine names, no
 * `berth.*` labels, and nothing about other tenants' objects that an engine answer carries along
 * (containers attached to a shared network, for one). Pure functions over the engine's JSON, one per
 * object shape, used by lists, inspects, events and prunes alike.
 */
import { type Labels, type Scope, type TenantScope, withoutReservedLabels } from "../ownership.ts";

type Json = Record<string, any>;

/** `/T_web` → `/web`, and legacy link names `/T_web/T_db` → `/web/db`. */
export function visibleContainerName(scope: TenantScope, name: string): string {
  return name
    .split("/")
    .map((part) => (part === "" ? part : scope.visibleName(part)))
    .join("/");
}

function visibleNetworkKeys(networkScope: Scope, networks: Json | null | undefined): Json | null | undefined {
  if (!networks) return networks;
  return Object.fromEntries(Object.entries(networks).map(([name, endpoint]) => [networkScope.visibleName(name), endpoint]));
}

function visibleNetworkMode(networkScope: Scope, mode: unknown): unknown {
  if (typeof mode !== "string" || mode.startsWith("container:")) return mode;
  return networkScope.visibleName(mode);
}

/** `T_db:/T_web/db` style link strings and `T_vol:/data:rw` style binds. */
function visibleFirstPart(scope: TenantScope, value: string): string {
  const colon = value.indexOf(":");
  const head = colon === -1 ? value : value.slice(0, colon);
  const tail = colon === -1 ? "" : value.slice(colon);
  return visibleContainerName(scope, head) + tail;
}

function visibleLink(scope: TenantScope, link: string): string {
  const [target, alias] = link.split(":");
  return alias === undefined ? visibleContainerName(scope, target!) : `${visibleContainerName(scope, target!)}:${visibleContainerName(scope, alias)}`;
}

function visibleMounts(scope: TenantScope, mounts: Json[] | null | undefined): Json[] | null | undefined {
  return mounts?.map((mount) =>
    mount.Type === "volume"
      ? { ...mount, Name: mount.Name && scope.visibleName(mount.Name), Source: mount.Source && scope.unscopeText(mount.Source) }
      : mount,
  );
}

/** An item of `GET /containers/json`. */
export function containerSummaryView(scope: TenantScope, networkScope: Scope, container: Json): Json {
  return {
    ...container,
    Names: (container.Names as string[] | null)?.map((name) => visibleContainerName(scope, name)),
    Labels: withoutReservedLabels(container.Labels as Labels),
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
export function containerInspectView(scope: TenantScope, networkScope: Scope, container: Json): Json {
  const host = container.HostConfig as Json | undefined;
  const settings = container.NetworkSettings as Json | undefined;
  return {
    ...container,
    Name: typeof container.Name === "string" ? visibleContainerName(scope, container.Name) : container.Name,
    Config: container.Config && { ...container.Config, Labels: withoutReservedLabels(container.Config.Labels as Labels) },
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
    },
    Mounts: visibleMounts(scope, container.Mounts),
  };
}

function visibleEndpoints(scope: TenantScope, networkScope: Scope, networks: Json): Json {
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

/** A network (list item or inspect): only the tenant's own containers stay in `Containers`. */
export function networkView(scope: TenantScope, networkScope: Scope, network: Json): Json {
  const containers = network.Containers as Record<string, Json> | null | undefined;
  return {
    ...network,
    Name: networkScope.visibleName(network.Name),
    Labels: withoutReservedLabels(network.Labels as Labels),
    Containers:
      containers &&
      Object.fromEntries(
        Object.entries(containers)
          .filter(([, endpoint]) => typeof endpoint?.Name === "string" && scope.isOwnEngineName(endpoint.Name))
          .map(([id, endpoint]) => [id, { ...endpoint, Name: scope.visibleName(endpoint.Name) }]),
      ),
  };
}

export function volumeView(scope: TenantScope, volume: Json): Json {
  return {
    ...volume,
    Name: scope.visibleName(volume.Name),
    Labels: withoutReservedLabels(volume.Labels as Labels),
    Mountpoint: typeof volume.Mountpoint === "string" ? scope.unscopeText(volume.Mountpoint) : volume.Mountpoint,
  };
}
