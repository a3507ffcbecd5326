/**
 * System-wide answers, recomputed per caller so nothing in them tells a tenant about others: `info`
 * counts only its containers (and, in a cluster, reports the nodes as classic Swarm did),
 * `system/df` lists only its containers and volumes (and counts image use by them alone), and
 * `events` merges every node's stream and passes only events about the tenant's own containers,
 * networks and volumes, with names it knows. Events of deleted objects are matched by their scoped
 * names, since the objects (and their labels) are gone by then.
 */
import { ID_PREFIX, NETWORK_ID_PREFIX, OWNER_LABEL, type Scope, isEngineNetworkName, scopedFilterValues } from "../ownership.ts";
import { checkFields } from "../policy/fields.ts";
import type { ClusterNode } from "../upstream/cluster.ts";
import { urlAuthority } from "../policy/registries.ts";
import { anyNode, everywhereJson } from "./fan-out.ts";
import { checkTenantRegistry } from "./images.ts";
import { parseFilters, serializeFilters } from "./filters.ts";
import { type Handler, type MergedStream, type Reply, pipe } from "./types.ts";
import { nodeSection, visibleLabels, volumeView } from "./views.ts";
import { ENGINE_API } from "../upstream/engine.ts";
import { API_VERSION, versionView } from "../http/api-version.ts";

const EVENT_FILTERS = ["container", "event", "image", "label", "network", "type", "volume"];
const EVENT_TYPES = new Set(["container", "network", "volume"]);

/** Classic Swarm's node report in `docker info`'s SystemStatus. */
export function nodeStatus(nodes: readonly ClusterNode[], strategy: string, containersOn: (node: string) => number): string[][] {
  return [
    ["Strategy", strategy],
    ["Nodes", String(nodes.length)],
    ...nodes.flatMap((node) => [
      [` ${node.name}`, node.host ?? ""],
      ["  └ Status", node.healthy ? "Healthy" : `Unhealthy (${node.lastError ?? "no answer"})`],
      ["  └ Containers", String(containersOn(node.name))],
      ["  └ Reserved CPUs / Memory", `${node.cpus} / ${Math.round(node.memoryTotal / 2 ** 20)} MiB`],
      [
        "  └ Labels",
        Object.entries(node.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(", "),
      ],
    ]),
  ];
}

/**
 * `_ping` needs no token, so it is answered by the proxy itself and names nothing of the engines:
 * the API version the proxy speaks (what clients negotiate with), the OS type, no `Server` header.
 */
export const ping: Handler = async (): Promise<Reply> => ({
  reply: {
    status: 200,
    body: "OK",
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "api-version": API_VERSION,
      ostype: "linux",
      "docker-experimental": "false",
      "cache-control": "no-cache, no-store, must-revalidate",
      pragma: "no-cache",
    },
  },
});

/** `docker version`: the engine's answer, with the API version the proxy offers (http/api-version.ts). */
export const version: Handler = async (request) => ({
  node: anyNode(request),
  method: "GET",
  segments: ["version"],
  query: request.query,
  response: { kind: "json", rewrite: versionView },
});

/** Engine options that name nothing of the host: seccomp stays "name=seccomp", without a profile path. */
const securityOptionNames = (options: unknown): string[] =>
  Array.isArray(options) ? options.filter((o): o is string => typeof o === "string").map((o) => o.split(",")[0]!) : [];

/**
 * What a tenant sees of an engine's `info`: what its containers can tell anyway (kernel, CPUs,
 * memory, architecture, the cgroup setup), what clients use (versions, the index server, the
 * default runtime's name, the features the CLI warns about), and nothing of the node: not its name,
 * data root, cluster store and advertise addresses, proxy settings, address pools, registry
 * mirrors, warnings (they quote the engine's listening address), plugin paths, storage details or
 * load (descriptors, goroutines, event listeners count other tenants' activity). Fields not listed
 * are left out, so a field a newer engine adds is not shown until someone decides it may be.
 */
export function tenantInfoView(engineInfo: Record<string, any>): Record<string, unknown> {
  const pick = (names: readonly string[]) =>
    Object.fromEntries(names.filter((name) => Object.hasOwn(engineInfo, name)).map((name) => [name, engineInfo[name]]));
  return {
    ...pick([
      "ID",
      "Images",
      "Driver",
      "MemoryLimit",
      "SwapLimit",
      "KernelMemory",
      "KernelMemoryTCP",
      "CpuCfsPeriod",
      "CpuCfsQuota",
      "CPUShares",
      "CPUSet",
      "PidsLimit",
      "IPv4Forwarding",
      "BridgeNfIptables",
      "BridgeNfIp6tables",
      "OomKillDisable",
      "SystemTime",
      "LoggingDriver",
      "CgroupDriver",
      "CgroupVersion",
      "KernelVersion",
      "OSType",
      "Architecture",
      "IndexServerAddress",
      "NCPU",
      "MemTotal",
      "ExperimentalBuild",
      "ServerVersion",
      "DefaultRuntime",
      "LiveRestoreEnabled",
      "Isolation",
      "ContainerdCommit",
      "RuncCommit",
      "InitCommit",
      "ProductLicense",
    ]),
    Name: "berth",
    OperatingSystem: "",
    OSVersion: "",
    DockerRootDir: "",
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    NEventsListener: 0,
    DriverStatus: [],
    Plugins: { Volume: engineInfo.Plugins?.Volume ?? [], Network: engineInfo.Plugins?.Network ?? [], Authorization: null, Log: engineInfo.Plugins?.Log ?? [] },
    RegistryConfig: null,
    GenericResources: null,
    HttpProxy: "",
    HttpsProxy: "",
    NoProxy: "",
    Labels: [],
    ClusterStore: "",
    ClusterAdvertise: "",
    Runtimes: Object.fromEntries(Object.keys(engineInfo.Runtimes ?? {}).map((name) => [name, {}])),
    Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
    InitBinary: "",
    SecurityOptions: securityOptionNames(engineInfo.SecurityOptions),
    DefaultAddressPools: null,
    Warnings: null,
  };
}

export const info: Handler = async (request): Promise<Reply> => {
  const owner = request.scope.ownerFilter();
  const filters = owner ? `&filters=${encodeURIComponent(JSON.stringify({ label: [owner] }))}` : "";
  const [answer, containers] = await Promise.all([
    anyNode(request).engine.json("GET", `${ENGINE_API}/info`),
    everywhereJson(request, `${ENGINE_API}/containers/json?all=1${filters}`),
  ]);
  if (answer.status !== 200) return { reply: answer };
  const states = containers.items.map(({ item }) => item.State as string);
  const count = (state: string) => states.filter((s) => s === state).length;
  const cluster = request.cluster.nodes.length > 1 || request.cluster.named;
  const onNode = (name: string) => containers.items.filter(({ node }) => node.name === name).length;
  return {
    reply: {
      status: 200,
      headers: containers.headers,
      body: {
        ...(request.scope.unrestricted ? answer.body : tenantInfoView(answer.body)),
        Containers: states.length,
        ContainersRunning: count("running"),
        ContainersPaused: count("paused"),
        ContainersStopped: states.length - count("running") - count("paused"),
        ...(cluster
          ? {
              Name: "berth",
              NCPU: request.cluster.healthy().reduce((sum, node) => sum + node.cpus, 0),
              MemTotal: request.cluster.healthy().reduce((sum, node) => sum + node.memoryTotal, 0),
              SystemStatus: nodeStatus(request.cluster.nodes, request.settings.scheduler, onNode),
            }
          : {}),
      },
    },
  };
};

export const diskUsage: Handler = async (request): Promise<Reply> => {
  const { items, headers } = await everywhereJson(request, `${ENGINE_API}/system/df`);
  const containers = items.flatMap(({ item }) => (item.Containers as any[] | null) ?? []).filter((c) => request.scope.owns(c.Labels));
  const uses = new Map<string, number>();
  for (const c of containers) uses.set(c.ImageID, (uses.get(c.ImageID) ?? 0) + 1);
  const images = new Map<string, any>();
  for (const { item } of items) for (const image of (item.Images as any[] | null) ?? []) images.set(image.Id, image);
  const volumes = new Map<string, any>();
  for (const { item } of items)
    for (const volume of (item.Volumes as any[] | null) ?? []) if (request.scope.owns(volume.Labels)) volumes.set(volume.Name, volume);
  return {
    reply: {
      status: 200,
      headers,
      body: {
        ...items[0]!.item,
        LayersSize: items.reduce((sum, { item }) => sum + Number(item.LayersSize ?? 0), 0),
        Images: [...images.values()].map((image) => (request.scope.unrestricted ? image : { ...image, Containers: uses.get(image.Id) ?? 0 })),
        Containers: containers.map((c) => ({
          ...c,
          Names: (c.Names as string[]).map((name) => request.scope.visibleName(name)),
          Labels: visibleLabels(request.scope, c.Labels),
        })),
        Volumes: [...volumes.values()].map((v) => volumeView(request.scope, v)),
        BuildCache: request.scope.unrestricted ? items.flatMap(({ item }) => item.BuildCache ?? []) : [],
      },
    },
  };
};

/** One engine event as the caller may see it, or undefined when it is not about its objects. */
export function eventView(scope: Scope, networkScope: Scope, event: any): unknown {
  if (scope.unrestricted) return event;
  const attributes: Record<string, string> = event?.Actor?.Attributes ?? {};
  const withAttributes = (visible: Record<string, string>, actorId: string = event.Actor.ID) => ({
    ...event,
    Actor: { ...event.Actor, ID: actorId, Attributes: visible },
  });
  switch (event?.Type) {
    case "container": {
      if (attributes[OWNER_LABEL] !== scope.tenant) return undefined;
      const visible = visibleLabels(scope, attributes) as Record<string, string>;
      if (visible.name) visible.name = scope.visibleName(visible.name);
      return withAttributes(visible);
    }
    case "network": {
      const name = attributes.name ?? "";
      const own = networkScope.tenant === undefined ? !isEngineNetworkName(name) && attributes.container === undefined : scope.isOwnEngineName(name);
      return own ? withAttributes({ ...attributes, name: networkScope.visibleName(name) }) : undefined;
    }
    case "volume": {
      const name = String(event.Actor?.ID ?? "");
      return scope.isOwnEngineName(name) ? withAttributes(attributes, scope.visibleName(name)) : undefined;
    }
    default:
      return undefined;
  }
}

export const events: Handler = async (request): Promise<MergedStream> => {
  const filters = parseFilters(
    request.query.get("filters"),
    request.scope.unrestricted ? [...EVENT_FILTERS, "daemon", "plugin", "node", "scope"] : EVENT_FILTERS,
  );
  for (const [key, scope, ids] of [
    ["container", request.scope, ID_PREFIX],
    ["network", request.networkScope, NETWORK_ID_PREFIX],
    ["volume", request.scope, ID_PREFIX],
  ] as const) {
    const values = filters.get(key);
    if (values) filters.set(key, scopedFilterValues(scope, values, ids));
  }
  // Only events about containers, networks and volumes can be a tenant's; asking for other types
  // alone gets a quiet stream rather than an error, as an engine with no such events would.
  const types = (filters.get("type") ?? [...EVENT_TYPES]).filter((type) => request.scope.unrestricted || EVENT_TYPES.has(type));
  if (!request.scope.unrestricted) filters.set("type", types.length > 0 ? types : ["container"]);
  const query = new URLSearchParams(request.query);
  query.set("filters", serializeFilters(filters));
  const named = request.cluster.named;
  return {
    merged: {
      method: "GET",
      segments: ["events"],
      query,
      rewrite: (event, node) => {
        if (types.length === 0) return undefined;
        const visible = eventView(request.scope, request.networkScope, event);
        return visible && named ? { ...(visible as object), node: nodeSection(node) } : visible;
      },
    },
  };
};

/** A login makes the engine contact the registry named by `serveraddress` (none: Docker Hub). */
export const auth: Handler = async (request) => {
  const body = checkFields(
    await request.readJson(),
    {
      username: "any",
      password: "any",
      email: "any",
      serveraddress: "any",
      identitytoken: "any",
      registrytoken: "any",
    },
    "",
  );
  const server = typeof body.serveraddress === "string" && body.serveraddress !== "" ? body.serveraddress : undefined;
  await checkTenantRegistry(request, server === undefined ? undefined : urlAuthority(server));
  return { node: anyNode(request), method: "POST", segments: ["auth"], query: request.query, body, response: pipe };
};
