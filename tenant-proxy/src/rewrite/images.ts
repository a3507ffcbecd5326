/**
 * Images are shared by everyone on an engine, as on FDCS: tenants may list, inspect and pull them.
 * Changing them (build, tag, push, remove, commit, load, import) is for administrators, because a
 * tenant retagging `busybox:latest` would change what every other tenant runs — unless the operator
 * opens image changes to tenants (BERTH_TENANT_IMAGE_CHANGES), and then these handlers still keep
 * builds off the host network and commits to the tenant's own containers. In a cluster a pull goes
 * to every node (their progress merged, each line saying its node, as classic Swarm showed it),
 * lists merge every node's images, and an image is inspected, tagged or removed where it is.
 */
import { lookup } from "node:dns/promises";
import { Refusal, badRequest, forbidden } from "../http/errors.ts";
import { encodeSegments } from "../http/request.ts";
import { checkLabels } from "../ownership.ts";
import { CONTAINER_CONFIG_RULES, FieldRefusal, checkFields } from "../policy/fields.ts";
import { checkRegistry, imageRegistry, urlAuthority } from "../policy/registries.ts";
import { underEngineRuntime } from "../policy/runtime.ts";
import type { ClusterNode } from "../upstream/cluster.ts";
import { anyNode, everywhereJson } from "./fan-out.ts";
import { type EngineCall, type Handler, type MergedStream, type Reply, type TenantRequest, pipe } from "./types.ts";
import { ENGINE_API } from "../upstream/engine.ts";

const imageSegments = (name: string): string[] => name.split("/");

const lookupAll = async (host: string): Promise<string[]> => (await lookup(host, { all: true })).map((found) => found.address);

/**
 * Refuses, for tenants, a registry or URL authority the engine must not be sent to (see
 * policy/registries.ts); checked before the engine is asked anything.
 */
export async function checkTenantRegistry(request: TenantRequest, authority: string | undefined): Promise<void> {
  if (authority === undefined || request.scope.unrestricted) return;
  await checkRegistry(authority, request.settings.policy.registries, lookupAll);
}

/** Checks the registry an image reference names (none: Docker Hub). */
export const checkImageRegistry = (request: TenantRequest, reference: string): Promise<void> => checkTenantRegistry(request, imageRegistry(reference));

/** The nodes that hold an image, first the ones that answered; a 404 when none does. */
async function nodesWithImage(request: TenantRequest, name: string): Promise<ClusterNode[]> {
  const path = `${ENGINE_API}/images/${encodeSegments(imageSegments(name))}/json`;
  const { answers, missing, errors } = await request.cluster.everywhere(async (node) => (await node.engine.json("GET", path)).status);
  const holders = answers.filter((a) => a.value === 200).map((a) => a.node);
  if (holders.length === 0) {
    // A node that is up but did not answer may hold it: say so rather than that there is none.
    if (errors.length > 0) throw errors[0]!.error;
    throw new Refusal(404, `No such image: ${name}${missing.length > 0 ? ` (unavailable: ${missing.join(", ")})` : ""}`, "not-found", name);
  }
  return holders;
}

/** An operation on one image, on the first node that holds it. */
export const onImage =
  (suffix: string[]): Handler =>
  async (request) => {
    const [node] = await nodesWithImage(request, request.params.name!);
    return {
      node: node!,
      method: request.operation.method,
      segments: ["images", ...imageSegments(request.params.name!), ...suffix],
      query: request.query,
      response: pipe,
    };
  };

/** A push sends the image to the registry its name says. */
export const push: Handler = async (request) => {
  await checkImageRegistry(request, request.params.name!);
  return onImage(["push"])(request);
};

/** Tags and removals apply to every node that holds the image; the first answer speaks for all. */
export const onImageEverywhere =
  (suffix: string[]): Handler =>
  async (request): Promise<Reply> => {
    const nodes = await nodesWithImage(request, request.params.name!);
    const query = request.query.toString();
    const path = `${ENGINE_API}/${encodeSegments(["images", ...imageSegments(request.params.name!), ...suffix])}${query ? `?${query}` : ""}`;
    const answers = await Promise.all(nodes.map((node) => node.engine.json(request.operation.method, path)));
    return { reply: answers.find((answer) => answer.status >= 400) ?? answers[0]! };
  };

/**
 * Pulls on every node, for everyone; imports (`fromSrc`, with a tar body) only where image changes
 * are open. The engine pulls whenever `fromImage` is given, with or without `fromSrc`: so does this.
 */
export const pull: Handler = async (request): Promise<MergedStream | EngineCall> => {
  if (!request.query.get("fromImage") && request.query.has("fromSrc")) {
    if (!request.settings.policy.tenantImageChanges && !request.scope.unrestricted) {
      throw new Refusal(403, "importing images is for administrators", "admin-only", "fromSrc");
    }
    const source = request.query.get("fromSrc")!;
    if (source !== "-") await checkTenantRegistry(request, urlAuthority(source));
    return streamToAnyNode(request, ["images", "create"]);
  }
  const image = request.query.get("fromImage");
  if (!image) throw badRequest("fromImage is required");
  await checkImageRegistry(request, image);
  const named = request.cluster.named;
  return {
    merged: {
      method: "POST",
      segments: ["images", "create"],
      query: request.query,
      rewrite: (progress, node) => (named ? { ...progress, id: progress.id ? `${node.name}: ${progress.id}` : node.name } : progress),
    },
  };
};

function streamToAnyNode(request: TenantRequest, segments: string[]): EngineCall {
  return { node: anyNode(request), method: "POST", segments, query: request.query, streamBody: true, response: pipe };
}

export const build: Handler = async (request) => {
  const { tenantRuntime } = request.settings.policy;
  if (!request.scope.unrestricted && !underEngineRuntime(tenantRuntime)) {
    throw forbidden(`builds are not available under the ${tenantRuntime} runtime: the engine runs their steps under its default runtime, outside the sandbox`);
  }
  const mode = request.query.get("networkmode");
  if (!request.scope.unrestricted && mode !== null && !["", "default", "bridge", "none"].includes(mode)) {
    throw new FieldRefusal("networkmode", "builds run on the default bridge or without network");
  }
  const remote = request.query.get("remote");
  if (remote) await checkTenantRegistry(request, urlAuthority(remote));
  return streamToAnyNode(request, ["build"]);
};

export const load: Handler = async (request) => streamToAnyNode(request, ["images", "load"]);

/** A commit names the container by query: only the caller's own, on its node. */
export const commit: Handler = async (request) => {
  const ref = request.query.get("container");
  if (!ref) throw badRequest("container is required");
  const body = request.scope.unrestricted ? ((await request.readJson()) ?? {}) : checkFields((await request.readJson()) ?? {}, CONTAINER_CONFIG_RULES, "");
  checkLabels(body.Labels, "Labels");
  const container = await request.resolver.container(request.scope, ref);
  const query = new URLSearchParams(request.query);
  query.set("container", container.id);
  return { node: container.node, method: "POST", segments: ["commit"], query, body, response: pipe };
};

export const distributionInspect: Handler = async (request) => {
  await checkImageRegistry(request, request.params.name!);
  return {
    node: anyNode(request),
    method: "GET",
    segments: ["distribution", ...imageSegments(request.params.name!), "json"],
    query: request.query,
    response: pipe,
  };
};

/** A search queries the registry its term names (`10.0.0.5:5000/app`), or Docker Hub. */
export const search: Handler = async (request) => {
  await checkImageRegistry(request, request.query.get("term") ?? "");
  return asIs(request);
};

/**
 * An image's `Containers` count would tell a tenant how many containers others run from it; the
 * engine leaves it uncomputed (-1) in lists today, and tenants always get it that way.
 */
export function imageSummaryView(image: Record<string, unknown>): Record<string, unknown> {
  return { ...image, Containers: -1 };
}

export const list: Handler = async (request): Promise<Reply> => {
  const query = request.query.toString();
  const { items, headers } = await everywhereJson(request, `${ENGINE_API}/images/json${query ? `?${query}` : ""}`);
  const byId = new Map<string, Record<string, unknown>>();
  for (const { item } of items) if (!byId.has(item.Id)) byId.set(item.Id, request.scope.unrestricted ? item : imageSummaryView(item));
  return { reply: { status: 200, body: [...byId.values()], headers } };
};

/** Prunes every node; the answers merged. */
export const prune: Handler = async (request): Promise<Reply> => {
  const query = request.query.toString();
  const { items, headers } = await everywhereJson(
    request,
    `${ENGINE_API}/${encodeSegments(request.operation.path.split("/").slice(1))}${query ? `?${query}` : ""}`,
    "POST",
  );
  const deletedKey = request.operation.id === "BuildPrune" ? "CachesDeleted" : "ImagesDeleted";
  return {
    reply: {
      status: 200,
      headers,
      body: {
        [deletedKey]: items.flatMap(({ item }) => item[deletedKey] ?? []),
        SpaceReclaimed: items.reduce((sum, { item }) => sum + Number(item.SpaceReclaimed ?? 0), 0),
      },
    },
  };
};

/** Calls that name no object: forwarded as they are to one node. */
export const asIs: Handler = async (request) => ({
  node: anyNode(request),
  method: request.operation.method,
  segments: request.operation.path.split("/").slice(1),
  query: request.query,
  response: pipe,
});
