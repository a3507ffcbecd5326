/**
 * Volume operations. Named volumes are scoped like containers and carry the owner label; one that
 * a container create names is created first (with that label) wherever the container goes, because
 * the engine would otherwise create it unlabelled and therefore nobody's. In a cluster a volume's
 * data lives on the NFS server in the tenant's own directory, `<export>/<tenant>/<name>`, and every
 * node that runs one of its containers holds a definition pointing there (the backend says how:
 * the local driver with NFS options, a bind of a directory all nodes share, or the osd plugin), so
 * a container finds its data on whichever node it lands. Tenants' own driver options are refused:
 * with the local driver they mount arbitrary host paths and devices. Anonymous volumes belong to
 * the container that mounts them and go with `docker rm -v`.
 */
import { randomBytes } from "node:crypto";
import { chownSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { Refusal } from "../http/errors.ts";
import { type Scope, checkLabels, checkName } from "../ownership.ts";
import { VOLUME_CREATE_RULES, checkFields } from "../policy/fields.ts";
import { checkMetadataSize } from "../policy/limits.ts";
import type { ClusterNode } from "../upstream/cluster.ts";
import { everywhereJson } from "./fan-out.ts";
import { listFilters, parseFilters, serializeFilters, withOwner } from "./filters.ts";
import type { Handler, Reply, TenantRequest } from "./types.ts";
import { volumeView } from "./views.ts";
import { ENGINE_API, passEngineError } from "../upstream/engine.ts";
import type { VolumeBackend } from "../settings-types.ts";

const LIST_FILTERS = ["dangling", "driver", "label", "name"];
const PRUNE_FILTERS = ["label", "label!"];

/** The directory of a tenant's volume, relative to the export (or the shared root). */
export const volumeDirectory = (scope: Scope, name: string): string => join(scope.tenant ?? "_admin", name);

/** How a node defines a tenant's named volume under each backend. */
export function volumeDefinition(backend: VolumeBackend, scope: Scope, name: string): { Driver: string; DriverOpts: Record<string, string> } {
  const directory = volumeDirectory(scope, name);
  switch (backend.kind) {
    case "local":
      return { Driver: "local", DriverOpts: {} };
    case "nfs":
      return {
        Driver: "local",
        DriverOpts: { type: "nfs", o: `addr=${backend.server},rw,nfsvers=4`, device: `:${join(backend.export, directory)}` },
      };
    case "shared-dir":
      return { Driver: "local", DriverOpts: { type: "none", o: "bind", device: join(backend.root, directory) } };
    case "osd":
      return { Driver: backend.driver, DriverOpts: {} };
  }
}

/**
 * Makes the volume's directory, owned by the engines' remapped root when they remap user
 * namespaces (BERTH_VOLUME_OWNER): a container's root is then that uid on the node and must be able
 * to write its volume, as it can with the engine's own local volumes.
 */
function makeVolumeDirectory(backend: VolumeBackend, directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o777 });
  const owner = backend.kind === "nfs" || backend.kind === "shared-dir" ? backend.owner : undefined;
  if (owner) chownSync(directory, owner.uid, owner.gid);
}

/** The volume's directory as the proxy sees it (nfs: the export mounted on the manager), if any. */
function localDirectory(backend: VolumeBackend, scope: Scope, name: string): string | undefined {
  const root = backend.kind === "nfs" || backend.kind === "shared-dir" ? backend.root : undefined;
  if (root === undefined) return undefined;
  const path = resolve(root, volumeDirectory(scope, name));
  if (!path.startsWith(resolve(root) + sep)) throw new Refusal(400, `volume name ${name} escapes the volume root`, "bad-request", name);
  return path;
}

async function defineOn(request: TenantRequest, node: ClusterNode, name: string, labels: Record<string, string>) {
  const backend = request.settings.volumes;
  const directory = localDirectory(backend, request.scope, name);
  if (directory) makeVolumeDirectory(backend, directory);
  const created = await node.engine.json("POST", `${ENGINE_API}/volumes/create`, {
    Name: request.scope.engineName(name),
    ...volumeDefinition(backend, request.scope, name),
    Labels: { ...labels, ...request.scope.ownerLabels() },
  });
  if (created.status !== 201) throw passEngineError(created);
  // The engine hands back an existing volume of that name: fine only if it is the caller's.
  if (!request.scope.owns(created.body.Labels)) throw new Refusal(409, `volume name ${name} is reserved`, "conflict", name);
  return created.body;
}

/** Each named volume is the caller's already on each node, or is defined there now as the caller's. */
export async function ensureVolumes(request: TenantRequest, names: Iterable<string>, nodes: readonly ClusterNode[]): Promise<void> {
  await Promise.all(
    [...names].flatMap((name) =>
      nodes.map(async (node) => {
        const found = await node.engine.json("GET", `${ENGINE_API}/volumes/${encodeURIComponent(request.scope.engineName(name))}`);
        if (found.status === 200) {
          if (!request.scope.owns(found.body.Labels)) throw new Refusal(409, `volume name ${name} is reserved`, "conflict", name);
          return;
        }
        if (found.status !== 404) throw passEngineError(found);
        await defineOn(request, node, name, {});
      }),
    ),
  );
}

export const list: Handler = async (request): Promise<Reply> => {
  const { filters, matchesName } = listFilters(request.query.get("filters"), LIST_FILTERS);
  const query = new URLSearchParams({ filters: serializeFilters(withOwner(filters, request.scope.ownerFilter())) });
  const { items, missing, headers } = await everywhereJson(request, `${ENGINE_API}/volumes?${query}`);
  const byName = new Map<string, any>();
  for (const { item } of items) for (const volume of item.Volumes ?? []) byName.set(volume.Name, volume);
  return {
    reply: {
      status: 200,
      headers,
      body: {
        Volumes: [...byName.values()].map((volume) => volumeView(request.scope, volume)).filter((volume) => matchesName(volume.Name)),
        Warnings: missing.length > 0 ? [`unavailable: ${missing.join(", ")}`] : null,
      },
    },
  };
};

export const create: Handler = async (request): Promise<Reply> => {
  const raw = (await request.readJson()) ?? {};
  const body = request.scope.unrestricted ? raw : checkFields(raw, VOLUME_CREATE_RULES, "");
  const labels = checkLabels(body.Labels, "Labels");
  if (!request.scope.unrestricted) checkMetadataSize(labels, "Labels", request.settings.policy.metadataMaxBytes);
  const name = typeof body.Name === "string" && body.Name !== "" ? checkName("volume", body.Name) : randomBytes(32).toString("hex");
  const healthy = request.cluster.healthy();
  if (healthy.length === 0) throw new Refusal(503, "no engine is available", "engine-unavailable");
  const [created] = await Promise.all(healthy.map((node) => defineOn(request, node, name, labels)));
  return { reply: { status: 201, body: volumeView(request.scope, created) } };
};

export const inspect: Handler = async (request) => {
  const { engineName, nodes } = await request.resolver.volume(request.scope, request.params.name!);
  const answer = await nodes[0]!.engine.json("GET", `${ENGINE_API}/volumes/${encodeURIComponent(engineName)}`);
  return { reply: answer.status === 200 ? { status: 200, body: volumeView(request.scope, answer.body) } : answer };
};

/**
 * Removes the definitions on every node that has one and then the data. A volume a run created is
 * defined only where that container ran, so "defined everywhere" is not the test; every node must
 * have been asked instead: while one cannot be, it may still mount the data, and nothing is removed.
 */
export const remove: Handler = async (request): Promise<Reply> => {
  const name = request.params.name!;
  const { engineName, nodes, missing } = await request.resolver.volume(request.scope, name);
  if (missing.length > 0) {
    throw new Refusal(
      503,
      `volume ${name} may still be in use on ${missing.join(", ")}, which cannot be reached; remove it when they are back`,
      "engine-unavailable",
      name,
    );
  }
  const force = request.query.get("force");
  const answers = await Promise.all(
    nodes.map((node) => node.engine.json("DELETE", `${ENGINE_API}/volumes/${encodeURIComponent(engineName)}${force ? `?force=${force}` : ""}`)),
  );
  const failed = answers.find((answer) => answer.status !== 204);
  if (failed) return { reply: failed };
  const directory = localDirectory(request.settings.volumes, request.scope, name);
  if (directory) rmSync(directory, { recursive: true, force: true });
  return { reply: { status: 204, body: undefined } };
};

export const prune: Handler = async (request): Promise<Reply> => {
  const filters = parseFilters(request.query.get("filters"), PRUNE_FILTERS);
  const query = new URLSearchParams({ filters: serializeFilters(withOwner(filters, request.scope.ownerFilter())) });
  const { items, headers } = await everywhereJson(request, `${ENGINE_API}/volumes/prune?${query}`, "POST");
  const deleted = [...new Set(items.flatMap(({ item }) => (item.VolumesDeleted as string[] | null) ?? []))];
  const owner = request.scope.ownerFilter();
  const stillDefined = await everywhereJson(
    request,
    `${ENGINE_API}/volumes${owner ? `?filters=${encodeURIComponent(JSON.stringify({ label: [owner] }))}` : ""}`,
  );
  const remaining = new Set(stillDefined.items.flatMap(({ item }) => (item.Volumes ?? []).map((v: { Name: string }) => v.Name)));
  for (const engineName of deleted) {
    if (remaining.has(engineName) || stillDefined.missing.length > 0) continue;
    const directory = localDirectory(request.settings.volumes, request.scope, request.scope.visibleName(engineName));
    if (directory) rmSync(directory, { recursive: true, force: true });
  }
  return {
    reply: {
      status: 200,
      headers,
      body: {
        VolumesDeleted: deleted.map((name) => request.scope.visibleName(name)),
        SpaceReclaimed: items.reduce((sum, { item }) => sum + Number(item.SpaceReclaimed ?? 0), 0),
      },
    },
  };
};
