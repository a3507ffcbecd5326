/**
 * Network operations for tenants. A tenant sees its own networks plus the predefined `bridge` and
 * `none` it may attach to (never `host`), and inside any network only its own containers. Network
 * names are scoped like container names unless network authorization is off (FDCS's
 * SWARM_NETWORK_AUTHORIZATION=false), in which case networks form one shared namespace. Custom
 * subnets and driver options are refused: they could clash with, or reach into, the hosts' own
 * networks.
 */
import { badRequest } from "../http/errors.ts";
import { checkLabels, checkName, isVisibleNetwork } from "../ownership.ts";
import { ENDPOINT_RULES, NETWORK_CONNECT_RULES, NETWORK_CREATE_RULES, NETWORK_DISCONNECT_RULES, checkFields } from "../policy/fields.ts";
import { listFilters, parseFilters, serializeFilters, withOwner } from "./filters.ts";
import { type Handler, type TenantRequest, json, pipe } from "./types.ts";
import { networkView } from "./views.ts";

const LIST_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"];
const PRUNE_FILTERS = ["until", "label", "label!"];

async function ownNetwork(request: TenantRequest) {
  return request.resolver.network(request.networkScope, request.params.id!);
}

export const list: Handler = async (request) => {
  const { filters, matchesName } = listFilters(request.query.get("filters"), LIST_FILTERS);
  return {
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

export const inspect: Handler = async (request) => {
  const network = await ownNetwork(request);
  return {
    method: "GET",
    segments: ["networks", network.id],
    query: request.query,
    response: json((answer) => networkView(request.scope, request.networkScope, answer)),
  };
};

export const create: Handler = async (request) => {
  const body = checkFields(await request.readJson(), NETWORK_CREATE_RULES, "");
  if (typeof body.Name !== "string") throw badRequest("a network needs a Name");
  const labels = checkLabels(body.Labels, "Labels");
  return {
    method: "POST",
    segments: ["networks", "create"],
    query: request.query,
    body: {
      ...body,
      Name: request.networkScope.engineName(checkName("network", body.Name)),
      CheckDuplicate: true,
      Labels: { ...labels, ...request.networkScope.ownerLabels() },
    },
    response: json((answer) => ({ ...answer, Warning: typeof answer.Warning === "string" ? request.scope.unscopeText(answer.Warning) : answer.Warning })),
  };
};

export const remove: Handler = async (request) => ({
  method: "DELETE",
  segments: ["networks", (await ownNetwork(request)).id],
  query: request.query,
  response: pipe,
});

async function connection(request: TenantRequest, rules: typeof NETWORK_CONNECT_RULES) {
  const body = checkFields(await request.readJson(), rules, "");
  if (typeof body.Container !== "string") throw badRequest("Container is required");
  const [network, container] = await Promise.all([ownNetwork(request), request.resolver.container(request.scope, body.Container)]);
  return { body, network, container };
}

export const connect: Handler = async (request) => {
  const { body, network, container } = await connection(request, NETWORK_CONNECT_RULES);
  const endpoint = checkFields(body.EndpointConfig, ENDPOINT_RULES, "EndpointConfig");
  if (endpoint.Links) {
    endpoint.Links = await Promise.all(
      (endpoint.Links as string[]).map(async (link) => {
        const [target, alias] = String(link).split(":");
        const linked = await request.resolver.container(request.scope, target!);
        return `${linked.engineName}:${alias ?? target}`;
      }),
    );
  }
  if (!network.predefined) {
    const visible = request.scope.visibleName(container.engineName);
    const aliases = (endpoint.Aliases as string[] | null | undefined) ?? [];
    endpoint.Aliases = aliases.includes(visible) ? aliases : [...aliases, visible];
  }
  return {
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
    method: "POST",
    segments: ["networks", network.id, "disconnect"],
    query: request.query,
    body: { ...body, Container: container.id },
    response: pipe,
  };
};

export const prune: Handler = async (request) => {
  const filters = parseFilters(request.query.get("filters"), PRUNE_FILTERS);
  const owner = request.networkScope.ownerFilter();
  if (owner === undefined) throw badRequest("network prune is not available while networks are shared");
  return {
    method: "POST",
    segments: ["networks", "prune"],
    query: new URLSearchParams({ filters: serializeFilters(withOwner(filters, owner)) }),
    response: json((answer: { NetworksDeleted: string[] | null }) => ({
      ...answer,
      NetworksDeleted: answer.NetworksDeleted?.map((name) => request.networkScope.visibleName(name)) ?? null,
    })),
  };
};
