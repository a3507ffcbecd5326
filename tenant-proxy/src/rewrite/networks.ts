/**
 * Network operations. A tenant sees its own networks plus the predefined `bridge` and `none` it may
 * attach to (never `host`), and inside any network only its own containers. Network names are
 * scoped like container names unless network authorization is off (FDCS's
 * SWARM_NETWORK_AUTHORIZATION=false), when networks form one shared namespace. In a cluster, a
 * tenant's networks are overlay networks, which every engine sees through the shared key-value
 * store: one node answers for them, a connect happens on the container's node, and an inspect
 * gathers the attached containers from every node. Custom subnets and driver options are refused:
 * they could clash with, or reach into, the hosts' own networks.
 */
import { badRequest } from "../http/errors.ts";
import { ENGINE_API, checkLabels, checkName, isVisibleNetwork, passEngineError } from "../ownership.ts";
import { ENDPOINT_RULES, NETWORK_CONNECT_RULES, NETWORK_CREATE_RULES, NETWORK_DISCONNECT_RULES, checkFields } from "../policy/fields.ts";
import { checkMetadataSize } from "../policy/limits.ts";
import { anyNode, everywhereJson } from "./fan-out.ts";
import { listFilters, parseFilters, serializeFilters, withOwner } from "./filters.ts";
import { type Handler, type Reply, type TenantRequest, json, pipe } from "./types.ts";
import { networkView } from "./views.ts";

const LIST_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"];
const PRUNE_FILTERS = ["until", "label", "label!"];

const ownNetwork = (request: TenantRequest) => request.resolver.network(request.networkScope, request.params.id!);

export const list: Handler = async (request) => {
  const { filters, matchesName } = listFilters(request.query.get("filters"), LIST_FILTERS);
  return {
    node: anyNode(request),
    method: "GET",
    segments: ["networks"],
    query: new URLSearchParams({ filters: serializeFilters(filters) }),
    response: json((networks: any[]) =>
      networks
        .filter((network) => isVisibleNetwork(request.networkScope, network))
        .map((network) => networkView(request.scope, request.networkScope, network))
        .filter((network) => matchesName(network.Name)),
    ),
  };
};

/** Each node lists the containers attached on it; the caller sees its own from all of them. */
export const inspect: Handler = async (request): Promise<Reply> => {
  const network = await ownNetwork(request);
  const query = request.query.toString();
  const path = `${ENGINE_API}/networks/${network.id}${query ? `?${query}` : ""}`;
  const answer = await network.node.engine.json("GET", path);
  if (answer.status !== 200) return { reply: answer };
  const merged = { ...answer.body, Containers: { ...(answer.body.Containers ?? {}) } };
  if (request.cluster.nodes.length > 1 && answer.body.Scope === "global") {
    const { items, headers } = await everywhereJson(request, path);
    // Each node lists its own containers by id, and others' as remote "ep-…" endpoints: keep the former.
    for (const { item } of items) {
      for (const [key, endpoint] of Object.entries(item.Containers ?? {})) if (!key.startsWith("ep-")) merged.Containers[key] = endpoint;
    }
    for (const key of Object.keys(merged.Containers)) if (key.startsWith("ep-")) delete merged.Containers[key];
    return { reply: { status: 200, body: networkView(request.scope, request.networkScope, merged), headers } };
  }
  return { reply: { status: 200, body: networkView(request.scope, request.networkScope, merged) } };
};

export const create: Handler = async (request) => {
  const raw = await request.readJson();
  const body = request.scope.unrestricted ? (raw ?? {}) : checkFields(raw, NETWORK_CREATE_RULES, "");
  if (typeof body.Name !== "string") throw badRequest("a network needs a Name");
  const labels = checkLabels(body.Labels, "Labels");
  if (!request.scope.unrestricted) checkMetadataSize(labels, "Labels", request.settings.policy.metadataMaxBytes);
  // In a cluster a tenant's networks are overlay networks: a bridge would exist on one node only,
  // and tenants do not choose nodes. The docker CLI sends "bridge" when no driver is given.
  const cluster = request.cluster.nodes.length > 1 && !request.scope.unrestricted;
  return {
    node: anyNode(request),
    method: "POST",
    segments: ["networks", "create"],
    query: request.query,
    body: {
      ...body,
      ...(cluster ? { Driver: "overlay" } : {}),
      Name: request.networkScope.engineName(checkName("network", body.Name)),
      CheckDuplicate: true,
      Labels: { ...labels, ...request.networkScope.ownerLabels() },
    },
    response: json((answer) => ({ ...answer, Warning: typeof answer.Warning === "string" ? request.scope.unscopeText(answer.Warning) : answer.Warning })),
  };
};

export const remove: Handler = async (request) => {
  const network = await ownNetwork(request);
  return { node: network.node, method: "DELETE", segments: ["networks", network.id], query: request.query, response: pipe };
};

async function connection(request: TenantRequest, rules: typeof NETWORK_CONNECT_RULES) {
  const raw = await request.readJson();
  const body = request.scope.unrestricted ? (raw ?? {}) : checkFields(raw, rules, "");
  if (typeof body.Container !== "string") throw badRequest("Container is required");
  const [network, container] = await Promise.all([ownNetwork(request), request.resolver.container(request.scope, body.Container)]);
  return { body, network, container };
}

export const connect: Handler = async (request) => {
  const { body, network, container } = await connection(request, NETWORK_CONNECT_RULES);
  const endpoint = request.scope.unrestricted ? ((body.EndpointConfig as Record<string, unknown> | undefined) ?? {}) : checkFields(body.EndpointConfig, ENDPOINT_RULES, "EndpointConfig");
  if (endpoint.Links) {
    endpoint.Links = await Promise.all(
      (endpoint.Links as string[]).map(async (link) => {
        const [target, alias] = String(link).split(":");
        const linked = await request.resolver.container(request.scope, target!);
        return `${linked.engineName}:${alias ?? target}`;
      }),
    );
  }
  if (!network.predefined && !request.scope.unrestricted) {
    const visible = request.scope.visibleName(container.engineName);
    const aliases = (endpoint.Aliases as string[] | null | undefined) ?? [];
    endpoint.Aliases = aliases.includes(visible) ? aliases : [...aliases, visible];
  }
  return {
    node: container.node,
    method: "POST",
    segments: ["networks", network.id, "connect"],
    query: request.query,
    body: { Container: container.id, EndpointConfig: endpoint },
    response: pipe,
  };
};

export const disconnect: Handler = async (request) => {
  const { body, network, container } = await connection(request, NETWORK_DISCONNECT_RULES);
  return {
    node: container.node,
    method: "POST",
    segments: ["networks", network.id, "disconnect"],
    query: request.query,
    body: { ...body, Container: container.id },
    response: pipe,
  };
};

export const prune: Handler = async (request): Promise<Reply> => {
  const filters = parseFilters(request.query.get("filters"), PRUNE_FILTERS);
  const owner = request.networkScope.ownerFilter();
  if (owner === undefined && !request.scope.unrestricted) throw badRequest("network prune is not available while networks are shared");
  const query = new URLSearchParams({ filters: serializeFilters(withOwner(filters, owner)) });
  const answer = await anyNode(request).engine.json("POST", `${ENGINE_API}/networks/prune?${query}`);
  if (answer.status !== 200) throw passEngineError(answer);
  return {
    reply: {
      status: 200,
      body: { ...answer.body, NetworksDeleted: (answer.body.NetworksDeleted as string[] | null)?.map((name) => request.networkScope.visibleName(name)) ?? null },
    },
  };
};
