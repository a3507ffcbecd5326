/**
 * Who owns what, kept on the objects themselves so the proxy stays stateless: every container,
 * network and volume a tenant creates carries the label `berth.tenant=<tenant>`, and its engine-side
 * name is `<tenant>_<name>` so two tenants can both own `web` (tenant ids never contain `_`, so the
 * prefix is unambiguous). A `Scope` turns a caller's names into engine names and back: a tenant's
 * scope prefixes and filters, an administrator's is the identity and sees everything. The
 * `Resolver` turns a reference (full id, id prefix, name, or `node/name` in a cluster) into one of
 * the caller's own objects and the node it lives on, or answers exactly as the engine does for
 * something that does not exist. It looks only inside the tenant (names under its prefix, ids
 * through a label-filtered list), so nothing another tenant owns changes the path, the answer or
 * its timing.
 */
import { LRUCache } from "lru-cache";
import { Refusal, badRequest, noSuch, noSuchMessage } from "./http/errors.ts";
import type { Cluster, ClusterNode } from "./upstream/cluster.ts";

export const LABEL_PREFIX = "berth.";
export const OWNER_LABEL = "berth.tenant";
/** The engine API version the proxy's own calls use: Debian 12's dockerd 20.10 speaks 1.41. */
export const ENGINE_API = "/v1.41";

/** Docker's own rule for container and volume names; we apply it to what the tenant sees. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const FULL_ID = /^[0-9a-f]{64}$/;
const ID_PREFIX = /^[0-9a-f]{1,63}$/;
/** dockerd 20.10's answer (a 500) to a prefix that several of its containers share. */
const AMBIGUOUS_ON_ENGINE = /^multiple IDs found with provided prefix/i;

export type Labels = Record<string, string> | null | undefined;

export interface Scope {
  /** The tenant this scope belongs to; undefined for administrators and shared networks. */
  readonly tenant?: string;
  /** Administrators: no policy, every object, engine names as they are. */
  readonly unrestricted: boolean;
  engineName(visible: string): string;
  visibleName(engineName: string): string;
  owns(labels: Labels): boolean;
  /** Whether an engine name is in this scope (events of deleted objects carry only names). */
  isOwnEngineName(engineName: string): boolean;
  /** Labels to stamp on what the caller creates. */
  ownerLabels(): Record<string, string>;
  /** The `label` filter value that restricts a list to the caller's objects, if any. */
  ownerFilter(): string | undefined;
  /** Replaces the caller's engine names by its own names inside an engine message. */
  unscopeText(text: string): string;
}

export class TenantScope implements Scope {
  readonly unrestricted = false;
  private readonly prefix: string;

  constructor(readonly tenant: string) {
    this.prefix = `${tenant}_`;
  }

  engineName(visible: string): string {
    return this.prefix + visible.replace(/^\//, "");
  }

  visibleName(engineName: string): string {
    const slash = engineName.startsWith("/") ? "/" : "";
    const bare = slash ? engineName.slice(1) : engineName;
    return bare.startsWith(this.prefix) ? slash + bare.slice(this.prefix.length) : engineName;
  }

  isOwnEngineName(engineName: string): boolean {
    return engineName.replace(/^\//, "").startsWith(this.prefix);
  }

  owns(labels: Labels): boolean {
    return labels?.[OWNER_LABEL] === this.tenant;
  }

  ownerLabels(): Record<string, string> {
    return { [OWNER_LABEL]: this.tenant };
  }

  ownerFilter(): string {
    return `${OWNER_LABEL}=${this.tenant}`;
  }

  unscopeText(text: string): string {
    return text.split(this.prefix).join("");
  }
}

/** One namespace where everything is everyone's: administrators, and shared networks. */
class OpenScope implements Scope {
  readonly tenant = undefined;
  constructor(readonly unrestricted: boolean) {}
  engineName(visible: string): string {
    return visible.replace(/^\//, "");
  }
  visibleName(engineName: string): string {
    return engineName;
  }
  owns(): boolean {
    return true;
  }
  isOwnEngineName(): boolean {
    return true;
  }
  ownerLabels(): Record<string, string> {
    return {};
  }
  ownerFilter(): undefined {
    return undefined;
  }
  unscopeText(text: string): string {
    return text;
  }
}

/** Administrators (and everyone when multi-tenancy is off). */
export const ADMIN_SCOPE: Scope = new OpenScope(true);
/** Networks when SWARM_NETWORK_AUTHORIZATION=false: shared by all tenants. */
export const SHARED_NETWORKS_SCOPE: Scope = new OpenScope(false);

export function checkName(kind: "container" | "volume" | "network", name: string): string {
  const bare = name.replace(/^\//, "");
  if (!NAME_PATTERN.test(bare)) {
    throw badRequest(`Invalid ${kind} name (${bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, name);
  }
  return bare;
}

/** Labels a tenant asks for must stay out of the proxy's reserved prefix. */
export function checkLabels(labels: unknown, where: string): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== "object" || Array.isArray(labels)) throw badRequest(`${where} must be an object of strings`);
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value !== "string") throw badRequest(`${where}["${key}"] must be a string`);
    if (key.toLowerCase().startsWith(LABEL_PREFIX)) {
      throw badRequest(`${where}: the label prefix "${LABEL_PREFIX}" is reserved for the service ("${key}")`, key);
    }
  }
  return labels as Record<string, string>;
}

/** A label map without the proxy's own labels, as tenants see it. */
export function withoutReservedLabels<T extends Labels>(labels: T): T {
  if (!labels) return labels;
  // fromEntries defines each key, so a label named "__proto__" stays a label.
  return Object.fromEntries(Object.entries(labels).filter(([key]) => !key.startsWith(LABEL_PREFIX))) as T;
}

export interface ResolvedContainer {
  id: string;
  /** The engine-side name, without the leading slash. */
  engineName: string;
  node: ClusterNode;
  /** The engine's inspect answer, when resolving by name fetched it anyway. */
  inspected?: any;
}

export interface ResolvedNetwork {
  id: string;
  engineName: string;
  /** A predefined network (`none`; `bridge` for callers without a bridge of their own), which nobody owns. */
  predefined: boolean;
  node: ClusterNode;
}

/**
 * The name tenants know their own bridge network by: docker's default network. Each tenant has one
 * per node (engine name `<tenant>_bridge`, made by the proxy), so no two tenants share a layer-2
 * segment as they would on the engine's own `bridge` (docker0).
 */
export const TENANT_BRIDGE = "bridge";

/** Whether the caller's containers get a bridge of their own: tenants whose networks are their own. */
export const hasTenantBridge = (networkScope: Scope): boolean => networkScope.tenant !== undefined;

const OPEN_SHARED_NETWORKS: ReadonlySet<string> = new Set(["bridge", "none"]);
const TENANT_SHARED_NETWORKS: ReadonlySet<string> = new Set(["none"]);

/**
 * Predefined networks the caller may attach to by their engine names. `host` is a host escape and
 * stays out; the engine's `bridge` only for callers without a bridge of their own (administrators,
 * and everyone while networks are shared), since a tenant's `bridge` is its own.
 */
export function sharedNetworks(scope: Scope): ReadonlySet<string> {
  return hasTenantBridge(scope) ? TENANT_SHARED_NETWORKS : OPEN_SHARED_NETWORKS;
}

const filtersQuery = (filters: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(filters));

interface NetworkSummary {
  Id: string;
  Name: string;
  Labels: Labels;
}

/** A network the caller may see: its own, or a predefined one it may use; `host` for administrators only. */
export function isVisibleNetwork(scope: Scope, network: { Name: string; Labels: Labels }): boolean {
  if (scope.unrestricted) return true;
  if (network.Name === "host") return false;
  return sharedNetworks(scope).has(network.Name) || scope.owns(network.Labels);
}

/**
 * Values of a `network`/`container`/`volume` filter as the engine must see them: the caller's own
 * names scoped, predefined networks as they are, and hex values also kept raw since they may be ids.
 */
export function scopedFilterValues(scope: Scope, values: readonly string[]): string[] {
  return values.flatMap((value) => {
    if (sharedNetworks(scope).has(value) || scope.unrestricted) return [value];
    return ID_PREFIX.test(value) || FULL_ID.test(value) ? [value, scope.engineName(value)] : [scope.engineName(value)];
  });
}

/** An engine error met during a lookup, passed on with the engine's own status and message. */
export function passEngineError(answer: { status: number; body: any }): Refusal {
  const message = typeof answer.body?.message === "string" ? answer.body.message : `engine answered ${answer.status}`;
  return new Refusal(answer.status >= 400 ? answer.status : 502, message, "engine-error");
}

/** Not found, saying which nodes could not be asked, since the object may be there. */
function notFound(kind: "container" | "network" | "volume" | "exec instance", ref: string, missing: readonly string[]): Refusal {
  if (missing.length === 0) return noSuch(kind, ref);
  return new Refusal(404, `${noSuchMessage(kind, ref)} (unavailable: ${missing.join(", ")})`, "not-found", ref);
}

function unavailableNode(node: ClusterNode, what: string): Refusal {
  return new Refusal(503, `${what} is on ${node.name}, which is unavailable`, "engine-unavailable", what);
}

/**
 * Resolves references against the cluster. Where a full id or a name was last found is cached per
 * scope, checked with one call to that node, and forgotten when the object is gone; otherwise every
 * healthy node is asked at once.
 */
export class Resolver {
  /** Per scope: a reference → the container it was found to be (by id: trusted; by name: checked). */
  private readonly found = new LRUCache<string, { id: string; engineName: string }>({ max: 100_000 });

  constructor(private readonly cluster: Cluster) {}

  private key(scope: Scope, kind: string, ref: string): string {
    return `${scope.tenant ?? "*"}:${kind}:${ref}`;
  }

  /** Splits `docker-host-1/web` into a node and a name, when the prefix names a node. */
  private nodeQualified(ref: string): { node?: ClusterNode; bare: string } {
    const bare = ref.replace(/^\//, "");
    const slash = bare.indexOf("/");
    if (slash === -1) return { bare };
    const node = this.cluster.byName(bare.slice(0, slash));
    return node ? { node, bare: bare.slice(slash + 1) } : { bare };
  }

  async container(scope: Scope, ref: string): Promise<ResolvedContainer> {
    const { node: pinned, bare } = this.nodeQualified(ref);
    if (bare === "" || bare.includes("/")) throw noSuch("container", ref);
    const known = this.found.get(this.key(scope, "c", bare));
    const cached = known && this.cluster.where(known.id);
    const candidates = pinned ? [pinned] : cached ? [cached] : undefined;
    if (candidates?.some((node) => !node.healthy)) throw unavailableNode(candidates[0]!, `container ${ref}`);
    // An id this scope has resolved before is still its own (ids never change owner): if the
    // container is gone since, the engine answers exactly as the proxy would.
    if (known && cached && !pinned && FULL_ID.test(bare)) return { id: known.id, engineName: known.engineName, node: cached };

    const byName = async (node: ClusterNode) => {
      const answer = await node.engine.json("GET", `${ENGINE_API}/containers/${encodeURIComponent(scope.engineName(bare))}/json`);
      if (answer.status === 404) return undefined;
      if (answer.status !== 200) throw passEngineError(answer);
      return scope.owns(answer.body?.Config?.Labels)
        ? { id: answer.body.Id as string, engineName: String(answer.body.Name).replace(/^\//, ""), node, inspected: answer.body }
        : undefined;
    };
    // An id, or a prefix of one, as the engine itself resolves it among ALL its containers: one
    // call, whose inspect answer serves the request too. Only an answer that is the caller's own
    // container settles it; when the engine finds another's (or the prefix is ambiguous on the
    // engine, or names someone's container), the caller's own containers are listed and matched
    // here. (The engine's `id` list filter cannot do this: it matches a prefix only when it is unique
    // among all containers, so another tenant's container sharing it would hide the caller's.)
    const byId = async (node: ClusterNode) => {
      const answer = await node.engine.json("GET", `${ENGINE_API}/containers/${bare}/json`);
      if (answer.status === 404) return [];
      if (answer.status === 200 && scope.owns(answer.body?.Config?.Labels) && String(answer.body.Id).startsWith(bare)) {
        return [{ id: answer.body.Id as string, engineName: String(answer.body.Name).replace(/^\//, ""), node, inspected: answer.body }];
      }
      if (answer.status !== 200 && !AMBIGUOUS_ON_ENGINE.test(String(answer.body?.message))) throw passEngineError(answer);
      return FULL_ID.test(bare) ? [] : ownByPrefix(node);
    };
    const ownByPrefix = async (node: ClusterNode) => {
      const owner = scope.ownerFilter();
      const answer = await node.engine.json("GET", `${ENGINE_API}/containers/json?all=1${owner === undefined ? "" : `&filters=${filtersQuery({ label: [owner] })}`}`);
      if (answer.status !== 200) throw passEngineError(answer);
      return (answer.body as { Id: string; Names: string[] }[])
        .filter((c) => c.Id.startsWith(bare))
        .map((c): ResolvedContainer => ({ id: c.Id, engineName: (c.Names[0] ?? "").replace(/^\//, ""), node }));
    };
    const ask = async <T>(work: (node: ClusterNode) => Promise<T>) => {
      if (candidates) return { answers: await Promise.all(candidates.map(async (node) => ({ node, value: await work(node) }))), missing: [] as string[] };
      const asked = await this.cluster.everywhere(work);
      if (asked.errors.length > 0) throw asked.errors[0]!.error;
      return asked;
    };

    // Docker's own order: a name first (a full id never is one), then an id or an id prefix. Both
    // are asked at once, so a short id costs one round trip, not two; the name still wins.
    const [named, listed] = await Promise.all([
      FULL_ID.test(bare) ? undefined : ask(byName),
      ID_PREFIX.test(bare) || FULL_ID.test(bare) ? ask(byId) : undefined,
    ]);
    const nameHits = named?.answers.flatMap((a) => (a.value ? [a.value] : [])) ?? [];
    if (nameHits.length > 1) throw badRequest(`the name ${bare} is used on ${nameHits.map((h) => h.node.name).join(" and ")}: use the container's id`, ref);
    if (nameHits.length === 1) return this.remember(scope, bare, nameHits[0]!);
    const idHits = listed?.answers.flatMap((a) => a.value) ?? [];
    if (idHits.length > 1) throw badRequest(`multiple IDs found with provided prefix: ${bare}`, ref);
    if (idHits.length === 1) return this.remember(scope, bare, idHits[0]!);
    const missing = [...new Set([...(named?.missing ?? []), ...(listed?.missing ?? [])])];
    if (cached && !pinned) {
      this.found.delete(this.key(scope, "c", bare));
      return this.container(scope, ref);
    }
    throw notFound("container", ref, missing);
  }

  private remember(scope: Scope, ref: string, found: ResolvedContainer): ResolvedContainer {
    const entry = { id: found.id, engineName: found.engineName };
    this.found.set(this.key(scope, "c", ref), entry);
    this.found.set(this.key(scope, "c", found.id), entry);
    this.cluster.remember(found.id, found.node);
    return found;
  }

  /** After a rename through the proxy, the name kept for the id changes with it. */
  renamed(scope: Scope, id: string, engineName: string): void {
    this.found.set(this.key(scope, "c", id), { id, engineName });
  }

  /**
   * Networks are global (overlay) or predefined on every node: one healthy node answers. A tenant's
   * `bridge` is local to each node, so every node is asked (or the one `docker-host-1/bridge` names).
   */
  async network(scope: Scope, ref: string): Promise<ResolvedNetwork> {
    if (hasTenantBridge(scope) && this.nodeQualified(ref).bare === TENANT_BRIDGE) return this.tenantBridge(scope, ref);
    if (ref === "" || ref.includes("/") || (ref === "host" && !scope.unrestricted)) throw noSuch("network", ref);
    const node = this.cluster.any();
    if (!node) throw new Refusal(503, "no engine is available", "engine-unavailable");
    if (!FULL_ID.test(ref)) {
      const engineName = sharedNetworks(scope).has(ref) ? ref : scope.engineName(ref);
      const byName = await node.engine.json("GET", `${ENGINE_API}/networks/${encodeURIComponent(engineName)}`);
      if (byName.status === 200 && (byName.body.Name === engineName || scope.unrestricted) && isVisibleNetwork(scope, byName.body)) {
        return { id: byName.body.Id, engineName: byName.body.Name, predefined: sharedNetworks(scope).has(byName.body.Name), node };
      }
      if (byName.status !== 404 && byName.status !== 200) throw passEngineError(byName);
      if (!ID_PREFIX.test(ref)) throw noSuch("network", ref);
    }
    const listed = await node.engine.json("GET", `${ENGINE_API}/networks?filters=${filtersQuery({ id: [ref] })}`);
    if (listed.status !== 200) throw passEngineError(listed);
    const matches = (listed.body as NetworkSummary[]).filter((n) => n.Id.startsWith(ref) && isVisibleNetwork(scope, n));
    if (matches.length === 0) throw noSuch("network", ref);
    if (matches.length > 1) throw badRequest(`network ${ref} is ambiguous (${matches.length} matches found based on ID prefix)`, ref);
    const [match] = matches;
    return { id: match!.Id, engineName: match!.Name, predefined: sharedNetworks(scope).has(match!.Name), node };
  }

  private async tenantBridge(scope: Scope, ref: string): Promise<ResolvedNetwork> {
    const { node: pinned } = this.nodeQualified(ref);
    const engineName = scope.engineName(TENANT_BRIDGE);
    const onNode = async (node: ClusterNode): Promise<ResolvedNetwork | undefined> => {
      const answer = await node.engine.json("GET", `${ENGINE_API}/networks/${encodeURIComponent(engineName)}`);
      if (answer.status === 404) return undefined;
      if (answer.status !== 200) throw passEngineError(answer);
      return answer.body.Name === engineName && scope.owns(answer.body.Labels) ? { id: answer.body.Id, engineName, predefined: false, node } : undefined;
    };
    if (pinned) {
      if (!pinned.healthy) throw unavailableNode(pinned, `network ${ref}`);
      const found = await onNode(pinned);
      if (!found) throw noSuch("network", ref);
      return found;
    }
    const asked = await this.cluster.everywhere(onNode);
    if (asked.errors.length > 0) throw asked.errors[0]!.error;
    const hits = asked.answers.flatMap((answer) => (answer.value ? [answer.value] : []));
    if (hits.length > 1) throw badRequest(`${ref} is on ${hits.map((hit) => hit.node.name).join(" and ")}: name the node, e.g. ${hits[0]!.node.name}/${ref}`, ref);
    if (hits.length === 0) throw notFound("network", ref, asked.missing);
    return hits[0]!;
  }

  /**
   * A named volume of the caller, the nodes that define it (each node keeps its own definition),
   * and the nodes that could not be asked (they may define it too).
   */
  async volume(scope: Scope, name: string): Promise<{ engineName: string; nodes: ClusterNode[]; missing: string[] }> {
    if (name === "" || name.includes("/")) throw noSuch("volume", name);
    const engineName = scope.engineName(name);
    const asked = await this.cluster.everywhere(async (node) => {
      const found = await node.engine.json("GET", `${ENGINE_API}/volumes/${encodeURIComponent(engineName)}`);
      if (found.status !== 404 && found.status !== 200) throw passEngineError(found);
      return found.status === 200 && scope.owns(found.body.Labels);
    });
    if (asked.errors.length > 0) throw asked.errors[0]!.error;
    const nodes = asked.answers.filter((a) => a.value).map((a) => a.node);
    if (nodes.length === 0) throw notFound("volume", name, asked.missing);
    return { engineName, nodes, missing: asked.missing };
  }

  async exec(scope: Scope, execId: string): Promise<{ id: string; containerId: string; node: ClusterNode }> {
    if (!FULL_ID.test(execId)) throw noSuch("exec instance", execId);
    const inspect = async (node: ClusterNode) => {
      const found = await node.engine.json("GET", `${ENGINE_API}/exec/${execId}/json`);
      if (found.status === 404) return undefined;
      if (found.status !== 200) throw passEngineError(found);
      return found.body.ContainerID as string;
    };
    const seen = this.found.get(this.key(scope, "e", execId));
    const known = seen && this.cluster.where(seen.id);
    const asked = known?.healthy ? { answers: [{ node: known, value: await inspect(known) }], missing: [], errors: [] } : await this.cluster.everywhere(inspect);
    if (asked.errors.length > 0) throw asked.errors[0]!.error;
    const hit = asked.answers.find((a) => a.value !== undefined);
    if (!hit) throw notFound("exec instance", execId, asked.missing);
    try {
      await this.container(scope, hit.value!);
    } catch (error) {
      if (error instanceof Refusal && error.status === 404) throw noSuch("exec instance", execId);
      throw error;
    }
    this.found.set(this.key(scope, "e", execId), { id: execId, engineName: "" });
    this.cluster.remember(execId, hit.node);
    return { id: execId, containerId: hit.value!, node: hit.node };
  }
}
