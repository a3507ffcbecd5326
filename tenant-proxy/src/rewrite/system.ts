/**
 * System-wide answers, recomputed per tenant so nothing in them tells a tenant about others:
 * `info` counts only its containers, `system/df` lists only its containers and volumes (and counts
 * image use by them alone), and `events` passes only events about its own containers, networks and
 * volumes, with names it knows. Events of deleted objects are matched by their scoped names, since
 * the objects (and their labels) are gone by then.
 */
import { ENGINE_API, OWNER_LABEL, type Scope, type TenantScope, scopedFilterValues, withoutReservedLabels } from "../ownership.ts";
import { badRequest } from "../http/errors.ts";
import { checkFields } from "../policy/fields.ts";
import { parseFilters, serializeFilters } from "./filters.ts";
import { type Handler, type Reply, type TenantRequest, pipe } from "./types.ts";
import { volumeView } from "./views.ts";

const EVENT_FILTERS = ["container", "event", "image", "label", "network", "type", "volume"];
const EVENT_TYPES = new Set(["container", "network", "volume"]);

async function ownContainers(request: TenantRequest): Promise<any[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [request.scope.ownerFilter()] }));
  const listed = await request.engine.json("GET", `${ENGINE_API}/containers/json?all=1&filters=${filters}`);
  if (listed.status !== 200) throw badRequest(`engine answered ${listed.status} to a container list`);
  return listed.body;
}

export const info: Handler = async (request): Promise<Reply> => {
  const [answer, containers] = await Promise.all([request.engine.json("GET", `${ENGINE_API}/info`), ownContainers(request)]);
  if (answer.status !== 200) return { reply: answer };
  const count = (state: string) => containers.filter((c) => c.State === state).length;
  return {
    reply: {
      status: 200,
      body: {
        ...answer.body,
        Containers: containers.length,
        ContainersRunning: count("running"),
        ContainersPaused: count("paused"),
        ContainersStopped: containers.length - count("running") - count("paused"),
      },
    },
  };
};

export const diskUsage: Handler = async (request): Promise<Reply> => {
  const answer = await request.engine.json("GET", `${ENGINE_API}/system/df`);
  if (answer.status !== 200) return { reply: answer };
  const containers = ((answer.body.Containers as any[] | null) ?? []).filter((c) => request.scope.owns(c.Labels));
  const uses = new Map<string, number>();
  for (const c of containers) uses.set(c.ImageID, (uses.get(c.ImageID) ?? 0) + 1);
  return {
    reply: {
      status: 200,
      body: {
        ...answer.body,
        Images: ((answer.body.Images as any[] | null) ?? []).map((image) => ({ ...image, Containers: uses.get(image.Id) ?? 0 })),
        Containers: containers.map((c) => ({
          ...c,
          Names: (c.Names as string[]).map((name) => request.scope.visibleName(name)),
          Labels: withoutReservedLabels(c.Labels),
        })),
        Volumes: ((answer.body.Volumes as any[] | null) ?? []).filter((v) => request.scope.owns(v.Labels)).map((v) => volumeView(request.scope, v)),
        BuildCache: [],
      },
    },
  };
};

/** One engine event as the tenant may see it, or undefined when it is not about the tenant's objects. */
export function eventView(scope: TenantScope, networkScope: Scope, event: any): unknown {
  const attributes: Record<string, string> = event?.Actor?.Attributes ?? {};
  const withAttributes = (visible: Record<string, string>, actorId: string = event.Actor.ID) => ({
    ...event,
    Actor: { ...event.Actor, ID: actorId, Attributes: visible },
  });
  switch (event?.Type) {
    case "container": {
      if (attributes[OWNER_LABEL] !== scope.tenant) return undefined;
      const visible = withoutReservedLabels(attributes) as Record<string, string>;
      if (visible.name) visible.name = scope.visibleName(visible.name);
      return withAttributes(visible);
    }
    case "network": {
      const name = attributes.name ?? "";
      const own = networkScope.tenant === undefined ? name !== "host" && attributes.container === undefined : scope.isOwnEngineName(name);
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

export const events: Handler = async (request) => {
  const filters = parseFilters(request.query.get("filters"), EVENT_FILTERS);
  for (const [key, scope] of [["container", request.scope], ["network", request.networkScope], ["volume", request.scope]] as const) {
    const values = filters.get(key);
    if (values) filters.set(key, scopedFilterValues(scope, values));
  }
  // Only events about containers, networks and volumes can be the tenant's; asking for other
  // types alone gets a quiet stream rather than an error, as an engine with no such events would.
  const types = (filters.get("type") ?? [...EVENT_TYPES]).filter((type) => EVENT_TYPES.has(type));
  filters.set("type", types.length > 0 ? types : ["container"]);
  const query = new URLSearchParams(request.query);
  query.set("filters", serializeFilters(filters));
  return {
    method: "GET",
    segments: ["events"],
    query,
    response: {
      kind: "json-stream",
      rewrite: (event) => (types.length > 0 ? eventView(request.scope, request.networkScope, event) : undefined),
    },
  };
};

export const auth: Handler = async (request) => ({
  method: "POST",
  segments: ["auth"],
  query: request.query,
  body: checkFields(await request.readJson(), {
    username: "any",
    password: "any",
    email: "any",
    serveraddress: "any",
    identitytoken: "any",
    registrytoken: "any",
  }, ""),
  response: pipe,
});
