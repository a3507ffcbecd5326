/**
 * Each tenant's own bridge network, one per node, which the tenant knows as `bridge`: its
 * containers join it when they name no network, or name `bridge`, so no two tenants' containers
 * share a layer-2 segment as they would on the engine's docker0 (ARP, MAC takeover, sniffing).
 * A user-defined bridge also gives them what compose networks give: names resolve by the embedded
 * DNS, and legacy links become link aliases there. The network is made lazily on the node a
 * container goes to, with the tenant's owner label and the engine name `<tenant>_bridge`; one
 * attempt at a time per node and tenant, and a name conflict from the engine means it exists, so
 * concurrent creates make it once. Once found, the node's state keeps it until the engine says it
 * was destroyed, so a create does not inspect it every time. `onTenantBridge` is the pure rewrite
 * of a create body.
 */
import { Refusal } from "../http/errors.ts";
import { type Scope, TENANT_BRIDGE } from "../ownership.ts";
import type { ClusterNode } from "../upstream/cluster.ts";
import type { ClusterState } from "../upstream/node-state.ts";
import { ENGINE_API, passEngineError } from "../upstream/engine.ts";
import type { ResolvedNetwork } from "../resolver.ts";

type Json = Record<string, any>;

/** Network modes and endpoint names that mean docker's default network. */
const DEFAULT_NETWORK = new Set(["", "default", TENANT_BRIDGE]);

/** Whether a (scoped) create body puts the container on the default network, by its mode or an endpoint. */
export function joinsDefaultNetwork(body: Json): boolean {
  const mode = body.HostConfig?.NetworkMode ?? "";
  const endpoints = (body.NetworkingConfig?.EndpointsConfig as Json | null | undefined) ?? {};
  return DEFAULT_NETWORK.has(mode) || Object.keys(endpoints).some((name) => DEFAULT_NETWORK.has(name));
}

/**
 * The create body with the default network replaced by the tenant's bridge (its engine name):
 * the network mode, the endpoint, the tenant's name for the container as an alias, and its legacy
 * links as link aliases, as the docker CLI does on user-defined networks (the engine honours
 * `HostConfig.Links` on its own default bridge only).
 */
export function onTenantBridge(body: Json, bridge: string, visibleName: string | undefined): Json {
  const host = body.HostConfig as Json;
  const modeIsDefault = DEFAULT_NETWORK.has(host.NetworkMode ?? "");
  const endpoints: Json = {};
  let own: Json = {};
  for (const [name, endpoint] of Object.entries((body.NetworkingConfig?.EndpointsConfig as Json | null) ?? {})) {
    if (DEFAULT_NETWORK.has(name)) own = { ...own, ...(endpoint as Json | null) };
    else endpoints[name] = endpoint;
  }
  const links = [...new Set([...((own.Links as string[] | null) ?? []), ...(modeIsDefault ? ((host.Links as string[] | null) ?? []) : [])])];
  const aliases = (own.Aliases as string[] | null) ?? [];
  endpoints[bridge] = {
    ...own,
    ...(links.length > 0 ? { Links: links } : {}),
    ...(visibleName !== undefined && !aliases.includes(visibleName) ? { Aliases: [...aliases, visibleName] } : {}),
  };
  return {
    ...body,
    HostConfig: modeIsDefault ? { ...host, NetworkMode: bridge } : host,
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
}

/** Attempts under way, by node and engine name: a second caller waits for the first one's answer. */
const making = new Map<string, Promise<ResolvedNetwork>>();

/** The tenant's bridge on `node`, made if it is not there yet; kept by the node's state once found. */
export function ensureTenantBridge(state: ClusterState, node: ClusterNode, networkScope: Scope): Promise<ResolvedNetwork> {
  const engineName = networkScope.engineName(TENANT_BRIDGE);
  return state.tenantBridge(node, engineName, (kept) => (kept ? findOrCreate(node, networkScope, engineName) : findOrMakeOnce(node, networkScope, engineName)));
}

function findOrMakeOnce(node: ClusterNode, networkScope: Scope, engineName: string): Promise<ResolvedNetwork> {
  const key = `${node.name}\n${engineName}`;
  const pending = making.get(key);
  if (pending) return pending;
  const attempt = findOrCreate(node, networkScope, engineName).finally(() => making.delete(key));
  making.set(key, attempt);
  return attempt;
}

async function findOrCreate(node: ClusterNode, networkScope: Scope, engineName: string): Promise<ResolvedNetwork> {
  const found = await find(node, networkScope, engineName);
  if (found) return found;
  const created = await node.engine.json("POST", `${ENGINE_API}/networks/create`, {
    Name: engineName,
    Driver: "bridge",
    CheckDuplicate: true,
    Labels: networkScope.ownerLabels(),
  });
  if (created.status === 201) return { id: created.body.Id as string, engineName, predefined: false, node };
  // Made meanwhile, by another proxy or the engine's own race: the one that exists is it.
  const raced = created.status === 409 ? await find(node, networkScope, engineName) : undefined;
  if (raced) return raced;
  throw passEngineError(created);
}

async function find(node: ClusterNode, networkScope: Scope, engineName: string): Promise<ResolvedNetwork | undefined> {
  const answer = await node.engine.json("GET", `${ENGINE_API}/networks/${encodeURIComponent(engineName)}`);
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw passEngineError(answer);
  if (answer.body.Name !== engineName || answer.body.Driver !== "bridge" || !networkScope.owns(answer.body.Labels)) {
    // Never the tenant's own unless the proxy made it: someone else's network by that name is not joined.
    throw new Refusal(409, `the network ${engineName} on ${node.name} is not this tenant's bridge: the operator must remove it`, "conflict");
  }
  return { id: answer.body.Id as string, engineName, predefined: false, node };
}
