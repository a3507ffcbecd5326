/**
 * The table: every operation of the Docker Engine API v1.41 (the engine's own spec is in
 * tenant-proxy/spec/), decided once. `public` needs no token (`_ping` only); `tenant` operations run
 * through their handler, which scopes and rewrites them; `admin` ones pass through for the admin
 * tenant only; `refused` ones are refused for everyone, with the reason. A method and path not in
 * this table is refused too. The `fdcs` column is the operation's name in FDCS's API filter file
 * (`{"disableapi": [...]}`). The tests read this same table: it must cover the whole spec.
 */
import * as containers from "./rewrite/containers.ts";
import * as exec from "./rewrite/exec.ts";
import * as images from "./rewrite/images.ts";
import * as networks from "./rewrite/networks.ts";
import * as plugins from "./rewrite/plugins.ts";
import * as system from "./rewrite/system.ts";
import { type Handler, type Operation, relay } from "./rewrite/types.ts";
import * as volumes from "./rewrite/volumes.ts";

const BUILD_QUERY = [
  "dockerfile",
  "t",
  "extrahosts",
  "remote",
  "q",
  "nocache",
  "cachefrom",
  "pull",
  "rm",
  "forcerm",
  "memory",
  "memswap",
  "cpushares",
  "cpusetcpus",
  "cpuperiod",
  "cpuquota",
  "buildargs",
  "shmsize",
  "squash",
  "labels",
  "networkmode",
  "platform",
  "target",
  "outputs",
  "version",
];
const IMAGE_CHANGE = "changing images is for administrators (images are shared by all tenants)";
const SWARM_MODE = "swarm mode is not available: the engines run classic overlay networking (--cluster-store)";
const PLUGINS = "plugins are managed by the service's administrators";

type Row = Omit<Operation, "access" | "handler" | "query" | "body">;

const tenant = (row: Row, handler: Handler, query: readonly string[] = [], body: Operation["body"] = "none", hijack = false): Operation => ({
  ...row,
  access: "tenant",
  handler,
  query,
  body,
  ...(hijack ? { hijack } : {}),
});
const admin = (row: Omit<Row, "reason">, reason: string): Operation => ({ ...row, access: "admin", reason });
const imageChange = (row: Omit<Row, "reason">, handler: Handler, query: readonly string[] = [], body: Operation["body"] = "none"): Operation => ({
  ...row,
  access: "admin",
  reason: IMAGE_CHANGE,
  imageChange: true,
  handler,
  query,
  body,
});
const refused = (row: Omit<Row, "reason">, reason: string): Operation => ({ ...row, access: "refused", reason });

export const OPERATIONS: readonly Operation[] = [
  // Containers
  tenant({ id: "ContainerList", method: "GET", path: "/containers/json", fdcs: "containerslist" }, containers.list, [
    "all",
    "limit",
    "size",
    "filters",
    "trunc_cmd",
  ]),
  tenant({ id: "ContainerCreate", method: "POST", path: "/containers/create", fdcs: "containerscreate" }, containers.create, ["name", "platform"], "json"),
  tenant({ id: "ContainerInspect", method: "GET", path: "/containers/{id}/json", fdcs: "containerinspect" }, containers.inspect, ["size"]),
  tenant({ id: "ContainerTop", method: "GET", path: "/containers/{id}/top", fdcs: "containertop" }, containers.top, ["ps_args"]),
  tenant({ id: "ContainerLogs", method: "GET", path: "/containers/{id}/logs", fdcs: "containerlogs" }, containers.onContainer(["logs"], relay), [
    "follow",
    "stdout",
    "stderr",
    "since",
    "until",
    "timestamps",
    "tail",
    "details",
  ]),
  tenant({ id: "ContainerChanges", method: "GET", path: "/containers/{id}/changes", fdcs: "containerchanges" }, containers.onContainer(["changes"])),
  tenant({ id: "ContainerExport", method: "GET", path: "/containers/{id}/export", fdcs: "containerexport" }, containers.onContainer(["export"], relay)),
  tenant({ id: "ContainerStats", method: "GET", path: "/containers/{id}/stats", fdcs: "containerstats" }, containers.stats, ["stream", "one-shot"]),
  tenant({ id: "ContainerResize", method: "POST", path: "/containers/{id}/resize", fdcs: "containerresize" }, containers.onContainer(["resize"]), ["h", "w"]),
  tenant({ id: "ContainerStart", method: "POST", path: "/containers/{id}/start", fdcs: "containerstart" }, containers.startLike("start"), ["detachKeys"]),
  tenant({ id: "ContainerStop", method: "POST", path: "/containers/{id}/stop", fdcs: "containerstop" }, containers.onContainer(["stop"]), ["t"]),
  tenant({ id: "ContainerRestart", method: "POST", path: "/containers/{id}/restart", fdcs: "containerrestart" }, containers.startLike("restart"), ["t"]),
  tenant({ id: "ContainerKill", method: "POST", path: "/containers/{id}/kill", fdcs: "containerkill" }, containers.onContainer(["kill"]), ["signal"]),
  tenant({ id: "ContainerUpdate", method: "POST", path: "/containers/{id}/update", fdcs: "containerupdate" }, containers.update, [], "json"),
  tenant({ id: "ContainerRename", method: "POST", path: "/containers/{id}/rename", fdcs: "containerrename" }, containers.rename, ["name"]),
  tenant({ id: "ContainerPause", method: "POST", path: "/containers/{id}/pause", fdcs: "containerpause" }, containers.onContainer(["pause"])),
  tenant({ id: "ContainerUnpause", method: "POST", path: "/containers/{id}/unpause", fdcs: "containerunpause" }, containers.onContainer(["unpause"])),
  tenant(
    { id: "ContainerAttach", method: "POST", path: "/containers/{id}/attach", fdcs: "containerattach" },
    containers.onContainer(["attach"], { kind: "hijack" }),
    ["detachKeys", "logs", "stream", "stdin", "stdout", "stderr"],
    "none",
    true,
  ),
  {
    ...admin(
      { id: "ContainerAttachWebsocket", method: "GET", path: "/containers/{id}/attach/ws", fdcs: "containerattachws" },
      "the websocket attach is for administrators; docker attach uses the stream attach",
    ),
    handler: containers.onContainer(["attach", "ws"], { kind: "hijack" }),
    hijack: true,
  },
  tenant({ id: "ContainerWait", method: "POST", path: "/containers/{id}/wait", fdcs: "containerwait" }, containers.onContainer(["wait"]), ["condition"]),
  tenant({ id: "ContainerDelete", method: "DELETE", path: "/containers/{id}", fdcs: "containerdelete" }, containers.remove, ["v", "force", "link"]),
  tenant({ id: "ContainerArchiveInfo", method: "HEAD", path: "/containers/{id}/archive", fdcs: "containerarchiveinfo" }, containers.onContainer(["archive"]), [
    "path",
  ]),
  tenant({ id: "ContainerArchive", method: "GET", path: "/containers/{id}/archive", fdcs: "containerarchive" }, containers.onContainer(["archive"], relay), [
    "path",
  ]),
  tenant(
    { id: "PutContainerArchive", method: "PUT", path: "/containers/{id}/archive", fdcs: "containerputarchive" },
    containers.putArchive,
    ["path", "noOverwriteDirNonDir", "copyUIDGID"],
    "stream",
  ),
  tenant({ id: "ContainerPrune", method: "POST", path: "/containers/prune", fdcs: "containersprune" }, containers.prune, ["filters"]),

  // Images: shared, read and pulled by tenants, changed by administrators
  tenant({ id: "ImageList", method: "GET", path: "/images/json", fdcs: "imageslist" }, images.list, ["all", "filters", "digests"]),
  imageChange({ id: "ImageBuild", method: "POST", path: "/build", fdcs: "build" }, images.build, BUILD_QUERY, "stream"),
  imageChange({ id: "BuildPrune", method: "POST", path: "/build/prune", fdcs: "buildprune" }, images.prune, ["keep-storage", "all", "filters"]),
  tenant(
    { id: "ImageCreate", method: "POST", path: "/images/create", fdcs: "imagescreate" },
    images.pull,
    ["fromImage", "fromSrc", "repo", "tag", "platform", "message", "changes"],
    "stream",
  ),
  tenant({ id: "ImageInspect", method: "GET", path: "/images/{name}/json", fdcs: "imageinspect" }, images.onImage(["json"])),
  tenant({ id: "ImageHistory", method: "GET", path: "/images/{name}/history", fdcs: "imagehistory" }, images.onImage(["history"])),
  imageChange({ id: "ImagePush", method: "POST", path: "/images/{name}/push", fdcs: "imagepush" }, images.push, ["tag"]),
  imageChange({ id: "ImageTag", method: "POST", path: "/images/{name}/tag", fdcs: "imagetag" }, images.onImageEverywhere(["tag"]), ["repo", "tag"]),
  imageChange({ id: "ImageDelete", method: "DELETE", path: "/images/{name}", fdcs: "imagedelete" }, images.onImageEverywhere([]), ["force", "noprune"]),
  tenant({ id: "ImageSearch", method: "GET", path: "/images/search", fdcs: "imagessearch" }, images.search, ["term", "limit", "filters"]),
  imageChange({ id: "ImagePrune", method: "POST", path: "/images/prune", fdcs: "imagesprune" }, images.prune, ["filters"]),
  imageChange(
    { id: "ImageCommit", method: "POST", path: "/commit", fdcs: "commit" },
    images.commit,
    ["container", "repo", "tag", "comment", "author", "pause", "changes"],
    "json",
  ),
  imageChange({ id: "ImageGet", method: "GET", path: "/images/{name}/get", fdcs: "imageget" }, images.onImage(["get"])),
  imageChange({ id: "ImageGetAll", method: "GET", path: "/images/get", fdcs: "imagesget" }, images.asIs, ["names"]),
  imageChange({ id: "ImageLoad", method: "POST", path: "/images/load", fdcs: "imagesload" }, images.load, ["quiet"], "stream"),
  tenant({ id: "DistributionInspect", method: "GET", path: "/distribution/{name}/json", fdcs: "distributioninspect" }, images.distributionInspect),

  // System
  tenant({ id: "SystemAuth", method: "POST", path: "/auth", fdcs: "auth" }, system.auth, [], "json"),
  tenant({ id: "SystemInfo", method: "GET", path: "/info", fdcs: "info" }, system.info),
  tenant({ id: "SystemVersion", method: "GET", path: "/version", fdcs: "version" }, system.version),
  { id: "SystemPing", method: "GET", path: "/_ping", fdcs: "ping", access: "public", handler: system.ping },
  { id: "SystemPingHead", method: "HEAD", path: "/_ping", fdcs: "ping", access: "public", handler: system.ping },
  tenant({ id: "SystemEvents", method: "GET", path: "/events", fdcs: "events" }, system.events, ["since", "until", "filters"]),
  tenant({ id: "SystemDataUsage", method: "GET", path: "/system/df", fdcs: "systemdf" }, system.diskUsage),
  admin({ id: "Session", method: "POST", path: "/session", fdcs: "session" }, "build sessions are for administrators"),

  // Exec
  tenant({ id: "ContainerExec", method: "POST", path: "/containers/{id}/exec", fdcs: "containerexec" }, exec.create, [], "json"),
  tenant({ id: "ExecStart", method: "POST", path: "/exec/{id}/start", fdcs: "execstart" }, exec.start, [], "json", true),
  tenant({ id: "ExecResize", method: "POST", path: "/exec/{id}/resize", fdcs: "execresize" }, exec.resize, ["h", "w"]),
  tenant({ id: "ExecInspect", method: "GET", path: "/exec/{id}/json", fdcs: "execinspect" }, exec.inspect),

  // Volumes
  tenant({ id: "VolumeList", method: "GET", path: "/volumes", fdcs: "volumeslist" }, volumes.list, ["filters"]),
  tenant({ id: "VolumeCreate", method: "POST", path: "/volumes/create", fdcs: "volumecreate" }, volumes.create, [], "json"),
  tenant({ id: "VolumeInspect", method: "GET", path: "/volumes/{name}", fdcs: "volumeinspect" }, volumes.inspect),
  tenant({ id: "VolumeDelete", method: "DELETE", path: "/volumes/{name}", fdcs: "volumedelete" }, volumes.remove, ["force"]),
  tenant({ id: "VolumePrune", method: "POST", path: "/volumes/prune", fdcs: "volumesprune" }, volumes.prune, ["filters"]),

  // Networks
  tenant({ id: "NetworkList", method: "GET", path: "/networks", fdcs: "networkslist" }, networks.list, ["filters"]),
  tenant({ id: "NetworkInspect", method: "GET", path: "/networks/{id}", fdcs: "networkinspect" }, networks.inspect, ["verbose", "scope"]),
  tenant({ id: "NetworkDelete", method: "DELETE", path: "/networks/{id}", fdcs: "networkdelete" }, networks.remove),
  tenant({ id: "NetworkCreate", method: "POST", path: "/networks/create", fdcs: "networkcreate" }, networks.create, [], "json"),
  tenant({ id: "NetworkConnect", method: "POST", path: "/networks/{id}/connect", fdcs: "networkconnect" }, networks.connect, [], "json"),
  tenant({ id: "NetworkDisconnect", method: "POST", path: "/networks/{id}/disconnect", fdcs: "networkdisconnect" }, networks.disconnect, [], "json"),
  tenant({ id: "NetworkPrune", method: "POST", path: "/networks/prune", fdcs: "networksprune" }, networks.prune, ["filters"]),

  // Plugins: tenants see none; everything else about them is for administrators
  tenant({ id: "PluginList", method: "GET", path: "/plugins", fdcs: "pluginslist" }, plugins.list, ["filters"]),
  admin({ id: "GetPluginPrivileges", method: "GET", path: "/plugins/privileges", fdcs: "pluginprivileges" }, PLUGINS),
  admin({ id: "PluginPull", method: "POST", path: "/plugins/pull", fdcs: "pluginpull" }, PLUGINS),
  tenant({ id: "PluginInspect", method: "GET", path: "/plugins/{name}/json", fdcs: "plugininspect" }, plugins.inspect),
  admin({ id: "PluginDelete", method: "DELETE", path: "/plugins/{name}", fdcs: "plugindelete" }, PLUGINS),
  admin({ id: "PluginEnable", method: "POST", path: "/plugins/{name}/enable", fdcs: "pluginenable" }, PLUGINS),
  admin({ id: "PluginDisable", method: "POST", path: "/plugins/{name}/disable", fdcs: "plugindisable" }, PLUGINS),
  admin({ id: "PluginUpgrade", method: "POST", path: "/plugins/{name}/upgrade", fdcs: "pluginupgrade" }, PLUGINS),
  admin({ id: "PluginCreate", method: "POST", path: "/plugins/create", fdcs: "plugincreate" }, PLUGINS),
  admin({ id: "PluginPush", method: "POST", path: "/plugins/{name}/push", fdcs: "pluginpush" }, PLUGINS),
  admin({ id: "PluginSet", method: "POST", path: "/plugins/{name}/set", fdcs: "pluginset" }, PLUGINS),

  // Swarm mode: excluded by the engines' --cluster-store, so refused even for administrators
  refused({ id: "NodeList", method: "GET", path: "/nodes", fdcs: "nodeslist" }, SWARM_MODE),
  refused({ id: "NodeInspect", method: "GET", path: "/nodes/{id}", fdcs: "nodeinspect" }, SWARM_MODE),
  refused({ id: "NodeDelete", method: "DELETE", path: "/nodes/{id}", fdcs: "nodedelete" }, SWARM_MODE),
  refused({ id: "NodeUpdate", method: "POST", path: "/nodes/{id}/update", fdcs: "nodeupdate" }, SWARM_MODE),
  refused({ id: "SwarmInspect", method: "GET", path: "/swarm", fdcs: "swarminspect" }, SWARM_MODE),
  refused({ id: "SwarmInit", method: "POST", path: "/swarm/init", fdcs: "swarminit" }, SWARM_MODE),
  refused({ id: "SwarmJoin", method: "POST", path: "/swarm/join", fdcs: "swarmjoin" }, SWARM_MODE),
  refused({ id: "SwarmLeave", method: "POST", path: "/swarm/leave", fdcs: "swarmleave" }, SWARM_MODE),
  refused({ id: "SwarmUpdate", method: "POST", path: "/swarm/update", fdcs: "swarmupdate" }, SWARM_MODE),
  refused({ id: "SwarmUnlockkey", method: "GET", path: "/swarm/unlockkey", fdcs: "swarmunlockkey" }, SWARM_MODE),
  refused({ id: "SwarmUnlock", method: "POST", path: "/swarm/unlock", fdcs: "swarmunlock" }, SWARM_MODE),
  refused({ id: "ServiceList", method: "GET", path: "/services", fdcs: "serviceslist" }, SWARM_MODE),
  refused({ id: "ServiceCreate", method: "POST", path: "/services/create", fdcs: "servicecreate" }, SWARM_MODE),
  refused({ id: "ServiceInspect", method: "GET", path: "/services/{id}", fdcs: "serviceinspect" }, SWARM_MODE),
  refused({ id: "ServiceDelete", method: "DELETE", path: "/services/{id}", fdcs: "servicedelete" }, SWARM_MODE),
  refused({ id: "ServiceUpdate", method: "POST", path: "/services/{id}/update", fdcs: "serviceupdate" }, SWARM_MODE),
  refused({ id: "ServiceLogs", method: "GET", path: "/services/{id}/logs", fdcs: "servicelogs" }, SWARM_MODE),
  refused({ id: "TaskList", method: "GET", path: "/tasks", fdcs: "taskslist" }, SWARM_MODE),
  refused({ id: "TaskInspect", method: "GET", path: "/tasks/{id}", fdcs: "taskinspect" }, SWARM_MODE),
  refused({ id: "TaskLogs", method: "GET", path: "/tasks/{id}/logs", fdcs: "tasklogs" }, SWARM_MODE),
  refused({ id: "SecretList", method: "GET", path: "/secrets", fdcs: "secretslist" }, SWARM_MODE),
  refused({ id: "SecretCreate", method: "POST", path: "/secrets/create", fdcs: "secretcreate" }, SWARM_MODE),
  refused({ id: "SecretInspect", method: "GET", path: "/secrets/{id}", fdcs: "secretinspect" }, SWARM_MODE),
  refused({ id: "SecretDelete", method: "DELETE", path: "/secrets/{id}", fdcs: "secretdelete" }, SWARM_MODE),
  refused({ id: "SecretUpdate", method: "POST", path: "/secrets/{id}/update", fdcs: "secretupdate" }, SWARM_MODE),
  refused({ id: "ConfigList", method: "GET", path: "/configs", fdcs: "configslist" }, SWARM_MODE),
  refused({ id: "ConfigCreate", method: "POST", path: "/configs/create", fdcs: "configcreate" }, SWARM_MODE),
  refused({ id: "ConfigInspect", method: "GET", path: "/configs/{id}", fdcs: "configinspect" }, SWARM_MODE),
  refused({ id: "ConfigDelete", method: "DELETE", path: "/configs/{id}", fdcs: "configdelete" }, SWARM_MODE),
  refused({ id: "ConfigUpdate", method: "POST", path: "/configs/{id}/update", fdcs: "configupdate" }, SWARM_MODE),
];

interface CompiledRoute {
  operation: Operation;
  segments: string[];
  /** Index of a parameter that may span several segments (image names), if any. */
  greedy?: number;
}

/**
 * Parameters that may span several segments, by the path's first segment, as the engine routes
 * them: image and plugin names, and network ids (`docker-host-1/bridge`, a node's local network).
 */
const GREEDY_PARAMS: Record<string, string> = { images: "{name}", plugins: "{name}", distribution: "{name}", networks: "{id}" };

function compile(operation: Operation): CompiledRoute {
  const segments = operation.path.split("/").slice(1);
  const greedy = segments.findIndex((segment) => segment === GREEDY_PARAMS[segments[0]!]);
  return { operation, segments, ...(greedy !== -1 ? { greedy } : {}) };
}

// Literal paths first, so `/images/json` is never read as an image called "json"'s inspect.
const ROUTES = OPERATIONS.map(compile).sort((a, b) => a.segments.filter((s) => s.startsWith("{")).length - b.segments.filter((s) => s.startsWith("{")).length);

export interface MatchedOperation {
  operation: Operation;
  params: Record<string, string>;
}

function matchSegments(route: CompiledRoute, segments: readonly string[]): Record<string, string> | undefined {
  const pattern = route.segments;
  const params: Record<string, string> = {};
  if (route.greedy === undefined) {
    if (pattern.length !== segments.length) return undefined;
    for (let i = 0; i < pattern.length; i++) {
      const expected = pattern[i]!;
      if (expected.startsWith("{")) params[expected.slice(1, -1)] = segments[i]!;
      else if (expected !== segments[i]) return undefined;
    }
    return params;
  }
  const before = pattern.slice(0, route.greedy);
  const after = pattern.slice(route.greedy + 1);
  const spanned = segments.length - before.length - after.length;
  if (spanned < 1) return undefined;
  if (before.some((s, i) => s !== segments[i])) return undefined;
  if (after.some((s, i) => s !== segments[before.length + spanned + i])) return undefined;
  params[pattern[route.greedy]!.slice(1, -1)] = segments.slice(before.length, before.length + spanned).join("/");
  return params;
}

/** The operation for a method and path, or why there is none. */
export function matchOperation(method: string, segments: readonly string[]): MatchedOperation | { unknown: "path" | "method" } {
  let pathMatched = false;
  for (const route of ROUTES) {
    const params = matchSegments(route, segments);
    if (params === undefined) continue;
    if (route.operation.method === method) return { operation: route.operation, params };
    pathMatched = true;
  }
  return { unknown: pathMatched ? "method" : "path" };
}
