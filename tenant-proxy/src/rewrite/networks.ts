/**
 * Network operations. A tenant sees its own networks plus the predefined `none` it may attach to
 * (never `host`), and inside any network only its own containers. Its `bridge` is its own too: a
 * bridge network per node that the proxy makes when a container first needs it there
 * (tenant-bridge.ts); the engine's `bridge` (docker0) is for administrators. Network names are
 * scoped like container names unless network authorization is off (FDCS's
 * SWARM_NETWORK_AUTHORIZATION=false), when networks form one shared namespace. In a cluster, a
 * tenant's networks are overlay networks, which every engine sees through the shared key-value
 * store: one node answers for them, a connect happens on the container's node, and an inspect
 * gathers the attached containers from every node. Custom subnets and driver options are refused:
 * they could clash with, or reach into, the hosts' own networks; the proxy sets the MTU option
 * itself when it knows the hosts' MTU (policy/network-mtu.ts).
 */
import { Refusal, badRequest } from "../http/errors.ts";
import { TENANT_BRIDGE, checkLabels, checkName, hasTenantBridge, isVisibleNetwork, sharedNetworks } from "../ownership.ts";
import { withNetworkMtu } from "../policy/network-mtu.ts";
import { ENDPOINT_RULES, NETWORK_CONNECT_RULES, NETWORK_CREATE_RULES, NETWORK_DISCONNECT_RULES, checkFields } from "../policy/fields.ts";
import { checkMetadataSize, tenantNetworksExcess } from "../policy/limits.ts";
import { overQuota } from "../policy/quota.ts";
import type { ClusterNode } from "../upstream/cluster.ts";
import { anyNode, everywhereJson } from "./fan-out.ts";
import { listFilters, parseFilters, serializeFilters, withOwner } from "./filters.ts";
import { ensureTenantBridge } from "./tenant-bridge.ts";
import { type Handler, type Reply, type TenantRequest, pipe } from "./types.ts";
import { networkView } from "./views.ts";
import { ENGINE_API, passEngineError } from "../upstream/engine.ts";
import type { ResolvedNetwork } from "../resolver.ts";

/** Names the engine keeps for its own networks; a tenant's `bridge` is made by the proxy alone. */
const PREDEFINED_NAMES = new Set(["bridge", "host", "none"]);

const LIST_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"];
const PRUNE_FILTERS = ["until", "label", "label!"];

const ownNetwork = (request: TenantRequest) => request.resolver.network(request.networkScope, request.params.id!);

/**
 * Every node lists its own local networks (a tenant's bridges) beside the global ones: in a cluster
 * those carry their node, `docker-host-1/bridge`, as classic Swarm showed local networks; global,
 * swarm and predefined networks are listed once.
 */
export const list: Handler = async (request): Promise<Reply> => {
  const { filters, matchesName } = listFilters(request.query.get("filters"), LIST_FILTERS);
  const { items, headers } = await everywhereJson(request, `${ENGINE_API}/networks?filters=${encodeURIComponent(serializeFilters(filters))}`);
  const seen = new Set<string>();
  const visible = items.flatMap(({ node, item: network }) => {
    if (!isVisibleNetwork(request.networkScope, network)) return [];
    // A swarm's networks as its managers have them: a worker keeps one it used a while after its removal.
    if (network.Scope === "swarm" && !node.swarmManager) return [];
    const perNode = request.cluster.named && network.Scope === "local" && !sharedNetworks(request.networkScope).has(network.Name);
    const key = perNode ? `${node.name}/${network.Id}` : network.Scope === "local" ? network.Name : network.Id;
    if (seen.has(key)) return [];
    seen.add(key);
    const view = networkView(request.scope, request.networkScope, network);
    return [perNode ? { ...view, Name: `${node.name}/${view.Name}` } : view];
  });
  return { reply: { status: 200, headers, body: visible.filter((network) => matchesName(network.Name)) } };
};

/**
 * An overlay member that is no container: another node's endpoint as a cluster store shows it
 * ("ep-…"), or a swarm node's load balancer ("lb-…", named after the network, so in its scope).
 */
const isEngineEndpoint = (key: string) => key.startsWith("ep-") || key.startsWith("lb-");

/** Each node lists the containers attached on it; the caller sees its own from all of them. */
export const inspect: Handler = async (request): Promise<Reply> => {
  const network = await ownNetwork(request);
  const query = request.query.toString();
  const path = `${ENGINE_API}/networks/${network.id}${query ? `?${query}` : ""}`;
  const answer = await network.node.engine.json("GET", path);
  if (answer.status !== 200) return { reply: answer };
  const merged = { ...answer.body, Containers: { ...(answer.body.Containers ?? {}) } };
  // An overlay's containers are each node's own: a cluster store's ("global") or a swarm's.
  if (request.cluster.nodes.length > 1 && (answer.body.Scope === "global" || answer.body.Scope === "swarm")) {
    const { items, headers } = await everywhereJson(request, path, "GET", answer.body.Scope === "swarm");
    // Each node lists its own containers by id: keep those, not the engine's own endpoints.
    for (const { item } of items) {
      for (const [key, endpoint] of Object.entries(item.Containers ?? {})) if (!isEngineEndpoint(key)) merged.Containers[key] = endpoint;
    }
    for (const key of Object.keys(merged.Containers)) if (isEngineEndpoint(key)) delete merged.Containers[key];
    return { reply: { status: 200, body: networkView(request.scope, request.networkScope, merged), headers } };
  }
  return { reply: { status: 200, body: networkView(request.scope, request.networkScope, merged) } };
};

export const create: Handler = async (request) => {
  const raw = await request.readJson();
  const body = request.scope.unrestricted ? (raw ?? {}) : checkFields(raw, NETWORK_CREATE_RULES, "");
  if (typeof body.Name !== "string") throw badRequest("a network needs a Name");
  // Checked without the leading slash that names drop: `/bridge` would take the tenant's bridge's engine name.
  const name = checkName("network", body.Name);
  if (PREDEFINED_NAMES.has(name)) throw new Refusal(403, `${name} is a pre-defined network and cannot be created`, "forbidden", name);
  const labels = checkLabels(body.Labels, "Labels");
  if (!request.scope.unrestricted) checkMetadataSize(labels, "Labels", request.settings.policy.metadataMaxBytes);
  // In a cluster a tenant's networks are overlay networks: a bridge would exist on one node only,
  // and tenants do not choose nodes. The docker CLI sends "bridge" when no driver is given.
  const cluster = request.cluster.nodes.length > 1 && !request.scope.unrestricted;
  const driver = cluster ? "overlay" : typeof body.Driver === "string" ? body.Driver : "";
  const options = withNetworkMtu(body.Options, driver, request.settings.networkMtu);
  const node = anyNode(request);
  const engineBody = {
    ...body,
    // A swarm's overlay takes plain containers (the proxy's, not services) only when attachable.
    ...(cluster ? { Driver: "overlay", ...(node.swarmManager ? { Attachable: true } : {}) } : {}),
    ...(options ? { Options: options } : {}),
    Name: request.networkScope.engineName(name),
    CheckDuplicate: true,
    Labels: { ...labels, ...request.networkScope.ownerLabels() },
  };
  // Counted and made in the tenant's queue, so two creates cannot both take the last one.
  return request.quota.exclusive(request.scope, async (): Promise<Reply> => {
    if (!request.scope.unrestricted) await checkTenantNetworks(request);
    const query = request.query.toString();
    const created = await node.engine.json("POST", `${ENGINE_API}/networks/create${query ? `?${query}` : ""}`, engineBody);
    if (created.status !== 201) return { reply: created };
    const warning = created.body.Warning;
    return { reply: { status: 201, body: { ...created.body, Warning: typeof warning === "string" ? request.scope.unscopeText(warning) : warning } } };
  });
};

/**
 * Refuses a network over the tenant's limit, counting the networks it owns as any node sees them
 * (a tenant's networks are global in a cluster); its bridges are the proxy's, one per node, and do
 * not count. Networks shared by every tenant (network authorization off) have no owner to count.
 */
async function checkTenantNetworks(request: TenantRequest): Promise<void> {
  const owner = request.networkScope.ownerFilter();
  if (owner === undefined) return;
  const filters = encodeURIComponent(JSON.stringify({ label: [owner] }));
  const listed = await anyNode(request).engine.json("GET", `${ENGINE_API}/networks?filters=${filters}`);
  if (listed.status !== 200) throw passEngineError(listed);
  const bridge = request.networkScope.engineName(TENANT_BRIDGE);
  const inUse = (listed.body as Array<{ Name: string }>).filter((network) => network.Name !== bridge).length;
  const excess = tenantNetworksExcess(request.settings.policy.limits.networksTenantMax, inUse);
  if (excess) throw overQuota(excess);
}

export const remove: Handler = async (request) => {
  const network = await ownNetwork(request);
  request.quota.state.forgetTenantBridge(network.node, network.engineName);
  return { node: network.node, method: "DELETE", segments: ["networks", network.id], query: request.query, response: pipe };
};

/**
 * The body, the network and the container of a connect or disconnect. A tenant's plain `bridge` is
 * its bridge on the container's node, which `bridgeOn` finds (or makes, for a connect).
 */
async function connection(request: TenantRequest, rules: typeof NETWORK_CONNECT_RULES, bridgeOn: (node: ClusterNode) => Promise<ResolvedNetwork>) {
  const raw = await request.readJson();
  const body = request.scope.unrestricted ? (raw ?? {}) : checkFields(raw, rules, "");
  if (typeof body.Container !== "string") throw badRequest("Container is required");
  const container = await request.resolver.container(request.scope, body.Container);
  const network = request.params.id === TENANT_BRIDGE && hasTenantBridge(request.networkScope) ? await bridgeOn(container.node) : await ownNetwork(request);
  return { body, network, container };
}

export const connect: Handler = async (request) => {
  const { body, network, container } = await connection(request, NETWORK_CONNECT_RULES, (node) =>
    ensureTenantBridge(request.quota.state, node, request.networkScope),
  );
  const endpoint = request.scope.unrestricted
    ? ((body.EndpointConfig as Record<string, unknown> | undefined) ?? {})
    : checkFields(body.EndpointConfig, ENDPOINT_RULES, "EndpointConfig");
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
  const { body, network, container } = await connection(request, NETWORK_DISCONNECT_RULES, (node) =>
    request.resolver.network(request.networkScope, `${node.name}/${TENANT_BRIDGE}`),
  );
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
  const node = anyNode(request);
  const answer = await node.engine.json("POST", `${ENGINE_API}/networks/prune?${query}`);
  if (answer.status !== 200) throw passEngineError(answer);
  for (const name of (answer.body.NetworksDeleted as string[] | null) ?? []) request.quota.state.forgetTenantBridge(node, name);
  return {
    reply: {
      status: 200,
      body: {
        ...answer.body,
        NetworksDeleted: (answer.body.NetworksDeleted as string[] | null)?.map((name) => request.networkScope.visibleName(name)) ?? null,
      },
    },
  };
};
