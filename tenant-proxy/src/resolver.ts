/**
 * The `Resolver` turns a reference (full id, id prefix, name, or `node/name` in a cluster) into one
 * of the caller's own objects and the node it lives on, or answers exactly as the engine does for
 * something that does not exist. It looks only inside the tenant (names under its prefix, ids
 * through a label-filtered list), so nothing another tenant owns changes the path, the answer or
 * its timing. What a scope owns is decided by ownership.ts; this module asks the engines.
 */
import { LRUCache } from "lru-cache";
import { Refusal, badRequest, noSuch, noSuchMessage } from "./http/errors.ts";
import {
  FULL_ID,
  ID_PREFIX,
  NETWORK_ID_PREFIX,
  type Labels,
  type Scope,
  TENANT_BRIDGE,
  hasTenantBridge,
  isVisibleNetwork,
  sharedNetworks,
} from "./ownership.ts";
import type { Cluster, ClusterNode } from "./upstream/cluster.ts";
import { ENGINE_API, passEngineError } from "./upstream/engine.ts";

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

const filtersQuery = (filters: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(filters));

interface NetworkSummary {
  Id: string;
  Name: string;
  Labels: Labels;
  Ingress?: boolean;
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
    // A full id is asked of the engine: one call, whose answer serves an inspect too, and which is
    // the same call whoever owns that id. A prefix is always matched among the caller's own
    // containers, never first resolved by the engine among ALL its containers: a lookup that costs
    // more calls when another tenant's container shares the prefix (or the prefix is ambiguous on
    // the engine) tells the caller, by its timing, which ids other tenants hold - and the caller can
    // widen that gap at will by owning many containers. (The engine's `id` list filter cannot help:
    // it matches a prefix only when it is unique among all containers, so another tenant's container
    // sharing it would hide the caller's.)
    const byId = async (node: ClusterNode) => {
      if (!FULL_ID.test(bare)) return ownByPrefix(node);
      const answer = await node.engine.json("GET", `${ENGINE_API}/containers/${bare}/json`);
      if (answer.status === 404) return [];
      if (answer.status !== 200) throw passEngineError(answer);
      if (!scope.owns(answer.body?.Config?.Labels) || answer.body.Id !== bare) return [];
      return [{ id: answer.body.Id as string, engineName: String(answer.body.Name).replace(/^\//, ""), node, inspected: answer.body }];
    };
    const ownByPrefix = async (node: ClusterNode) => {
      const owner = scope.ownerFilter();
      const answer = await node.engine.json(
        "GET",
        `${ENGINE_API}/containers/json?all=1${owner === undefined ? "" : `&filters=${filtersQuery({ label: [owner] })}`}`,
      );
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
      if (!NETWORK_ID_PREFIX.test(ref)) throw noSuch("network", ref);
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
    if (hits.length > 1)
      throw badRequest(`${ref} is on ${hits.map((hit) => hit.node.name).join(" and ")}: name the node, e.g. ${hits[0]!.node.name}/${ref}`, ref);
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
    const asked = known?.healthy
      ? { answers: [{ node: known, value: await inspect(known) }], missing: [], errors: [] }
      : await this.cluster.everywhere(inspect);
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
