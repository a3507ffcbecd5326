/**
 * Container operations for tenants. Every path reference is resolved inside the tenant first and
 * replaced by the full id, so the engine only ever acts on the tenant's own container; names are
 * scoped on the way in and unscoped on the way out; lists and prunes carry the owner label. The
 * create is the one multi-step operation: check, resolve what the body names, create missing named
 * volumes with the tenant's label, create, and — when the tenant gave no name — rename the engine's
 * generated name into the tenant's scope so no unscoped name is ever left behind.
 */
import { Refusal, badRequest } from "../http/errors.ts";
import { encodeSegments } from "../http/request.ts";
import { ENGINE_API, checkLabels, checkName, passEngineError, scopedFilterValues } from "../ownership.ts";
import { UPDATE_RULES, checkFields } from "../policy/fields.ts";
import { flavorForUpdate } from "../policy/flavors.ts";
import { checkCreateBody, createReferences, scopeCreateBody, type ResolvedReferences } from "./container-create.ts";
import { listFilters, parseFilters, serializeFilters, withOwner } from "./filters.ts";
import { type Handler, type Reply, type TenantRequest, json, pipe } from "./types.ts";
import { containerInspectView, containerSummaryView, visibleContainerName } from "./views.ts";
import { ensureVolumes } from "./volumes.ts";

const LIST_FILTERS = ["ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label", "name", "network", "publish", "since", "status", "volume"];
const PRUNE_FILTERS = ["until", "label", "label!"];

async function ownContainerId(request: TenantRequest): Promise<string> {
  return (await request.resolver.container(request.scope, request.params.id!)).id;
}

/** An operation on one container that needs nothing but the resolved id. */
export const onContainer =
  (suffix: string[], response = pipe): Handler =>
  async (request) => ({
    method: request.operation.method,
    segments: ["containers", await ownContainerId(request), ...suffix],
    query: request.query,
    response,
  });

export const list: Handler = async (request) => {
  const { filters, matchesName } = listFilters(request.query.get("filters"), LIST_FILTERS);
  for (const key of ["since", "before"] as const) {
    const refs = filters.get(key);
    if (refs) filters.set(key, await Promise.all(refs.map(async (ref) => (await request.resolver.container(request.scope, ref)).id)));
  }
  const networks = filters.get("network");
  if (networks) filters.set("network", scopedFilterValues(request.networkScope, networks));
  const volumes = filters.get("volume");
  if (volumes) filters.set("volume", volumes.map((v) => (v.startsWith("/") ? v : request.scope.engineName(v))));

  const query = new URLSearchParams(request.query);
  query.set("filters", serializeFilters(withOwner(filters, request.scope.ownerFilter())));
  // A limit must apply after the proxy's own name filtering, so it is applied here.
  const limit = Number(query.get("limit") ?? -1);
  query.delete("limit");
  return {
    method: "GET",
    segments: ["containers", "json"],
    query,
    response: json((containers: any[]) => {
      const visible = containers
        .map((container) => containerSummaryView(request.scope, request.networkScope, container))
        .filter((container) => (container.Names as string[] | undefined)?.some((name) => matchesName(name)) ?? false);
      return limit > 0 ? visible.slice(0, limit) : visible;
    }),
  };
};

export const inspect: Handler = async (request) => ({
  method: "GET",
  segments: ["containers", await ownContainerId(request), "json"],
  query: request.query,
  response: json((container) => containerInspectView(request.scope, request.networkScope, container)),
});

export const stats: Handler = async (request) => ({
  method: "GET",
  segments: ["containers", await ownContainerId(request), "stats"],
  query: request.query,
  response: {
    kind: "json-stream",
    rewrite: (sample) => (typeof sample?.name === "string" ? { ...sample, name: visibleContainerName(request.scope, sample.name) } : sample),
  },
});

export const remove: Handler = async (request) => {
  const link = request.query.get("link");
  if (link === "1" || link === "true") throw badRequest("removing legacy links is not available; remove the container instead");
  return onContainer([])(request);
};

export const rename: Handler = async (request) => {
  const name = request.query.get("name");
  if (name === null || name === "") throw badRequest("rename needs a new name");
  const query = new URLSearchParams(request.query);
  query.set("name", request.scope.engineName(checkName("container", name)));
  return { method: "POST", segments: ["containers", await ownContainerId(request), "rename"], query, response: pipe };
};

export const update: Handler = async (request): Promise<Reply> => {
  const { flavors } = request.settings.policy;
  const checked = checkFields(await request.readJson(), UPDATE_RULES, "");
  const body = flavors ? flavorForUpdate(flavors, checked) : checked;
  const id = await ownContainerId(request);
  const answer = await request.quota.update(request.scope, id, body, () => request.engine.json("POST", `${ENGINE_API}/containers/${id}/update`, body));
  return { reply: answer };
};

/** Start and restart run a container, which its quota must still allow. */
export const startLike =
  (action: "start" | "restart"): Handler =>
  async (request): Promise<Reply> => {
    const id = await ownContainerId(request);
    const query = request.query.toString();
    const answer = await request.quota.start(request.scope, id, () =>
      request.engine.json("POST", `${ENGINE_API}/containers/${id}/${action}${query ? `?${query}` : ""}`),
    );
    return { reply: answer };
  };

export const prune: Handler = async (request) => {
  const filters = parseFilters(request.query.get("filters"), PRUNE_FILTERS);
  const query = new URLSearchParams({ filters: serializeFilters(withOwner(filters, request.scope.ownerFilter())) });
  return { method: "POST", segments: ["containers", "prune"], query, response: pipe };
};

export const putArchive: Handler = async (request) => ({
  method: "PUT",
  segments: ["containers", await ownContainerId(request), "archive"],
  query: request.query,
  streamBody: true,
  response: pipe,
});

export async function resolveReferences(request: TenantRequest, body: Record<string, any>): Promise<ResolvedReferences> {
  const refs = createReferences(body);
  const [containers, networks] = await Promise.all([
    Promise.all([...refs.containers].map(async (ref) => [ref, await request.resolver.container(request.scope, ref)] as const)),
    Promise.all([...refs.networks].map(async (ref) => [ref, await request.resolver.network(request.networkScope, ref)] as const)),
    ensureVolumes(request, refs.volumes),
  ]);
  return { containers: new Map(containers), networks: new Map(networks) };
}

export const create: Handler = async (request): Promise<Reply> => {
  const requestedName = request.query.get("name");
  const visibleName = requestedName ? checkName("container", requestedName) : undefined;
  const checked = checkCreateBody(await request.readJson(), request.settings.policy);
  const missingImage = await checkImageLabels(request, checked.Image);
  if (missingImage) return { reply: missingImage };
  const resolved = await resolveReferences(request, checked);
  const body = scopeCreateBody(checked, request.scope, resolved, visibleName);

  const query = new URLSearchParams();
  if (visibleName !== undefined) query.set("name", request.scope.engineName(visibleName));
  const platform = request.query.get("platform");
  if (platform) query.set("platform", platform);
  return request.quota.create(request.scope, body.HostConfig, async () => {
    const created = await request.engine.json("POST", `${ENGINE_API}/containers/create?${query}`, body);
    if (created.status !== 201) return { reply: created };
    if (visibleName === undefined) await scopeGeneratedName(request, created.body.Id);
    const warnings = (created.body.Warnings as string[] | null)?.map((warning) => request.scope.unscopeText(warning)) ?? null;
    return { reply: { status: 201, body: { ...created.body, Warnings: warnings } } };
  });
};

/**
 * Labels an image carries are inherited by its containers, so an image with the reserved prefix
 * cannot be run by tenants. A missing image answers as the engine would (the CLI then pulls it).
 */
async function checkImageLabels(request: TenantRequest, image: unknown): Promise<{ status: number; body: unknown } | undefined> {
  if (typeof image !== "string" || image === "") throw badRequest("Image is required");
  const inspected = await request.engine.json("GET", `${ENGINE_API}/images/${encodeSegments(image.split("/"))}/json`);
  if (inspected.status === 404) return inspected;
  if (inspected.status !== 200) throw passEngineError(inspected);
  checkLabels(inspected.body.Config?.Labels, `image ${image} labels`);
  return undefined;
}

/** The engine named the container (`eager_turing`); move that name into the tenant's scope. */
async function scopeGeneratedName(request: TenantRequest, id: string): Promise<void> {
  const inspected = await request.engine.json("GET", `${ENGINE_API}/containers/${id}/json`);
  const generated = inspected.status === 200 ? String(inspected.body.Name).replace(/^\//, "") : undefined;
  const renamed =
    generated === undefined
      ? undefined
      : await request.engine.json("POST", `${ENGINE_API}/containers/${id}/rename?name=${encodeURIComponent(request.scope.engineName(generated))}`);
  if (renamed?.status !== 204) {
    await request.engine.json("DELETE", `${ENGINE_API}/containers/${id}?force=1`);
    throw renamed ? passEngineError(renamed) : new Refusal(500, "the new container could not be named; it was removed", "engine-error");
  }
}
