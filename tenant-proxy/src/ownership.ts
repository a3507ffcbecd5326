/**
 * Who owns what, kept on the objects themselves so the proxy stays stateless: every container,
 * network and volume a tenant creates carries the label `berth.tenant=<tenant>`, and its engine-side
 * name is `<tenant>_<name>` so two tenants can both own `web` (tenant ids never contain `_`, so the
 * prefix is unambiguous). A `Scope` turns a tenant's names into engine names and back; the
 * `Resolver` turns a tenant's reference (full id, id prefix or name) into one of its own objects,
 * or answers exactly as the engine does for something that does not exist. It looks only inside
 * the tenant (names under its prefix, ids through a label-filtered list), so nothing another
 * tenant owns changes the path, the answer or its timing.
 */
import { LRUCache } from "lru-cache";
import { Refusal, badRequest, noSuch } from "./http/errors.ts";
import type { Upstream } from "./upstream/engine.ts";

export const LABEL_PREFIX = "berth.";
export const OWNER_LABEL = "berth.tenant";
/** The engine API version the proxy's own calls use: Debian 12's dockerd 20.10 speaks 1.41. */
export const ENGINE_API = "/v1.41";

/** Docker's own rule for container and volume names; we apply it to what the tenant sees. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const FULL_ID = /^[0-9a-f]{64}$/;
const ID_PREFIX = /^[0-9a-f]{1,63}$/;

export type Labels = Record<string, string> | null | undefined;

export interface Scope {
  /** The tenant this scope belongs to; undefined for a shared scope. */
  readonly tenant?: string;
  engineName(visible: string): string;
  visibleName(engineName: string): string;
  owns(labels: Labels): boolean;
  /** Labels to stamp on what the tenant creates. */
  ownerLabels(): Record<string, string>;
  /** The `label` filter value that restricts a list to the tenant's objects, if any. */
  ownerFilter(): string | undefined;
}

export class TenantScope implements Scope {
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

  /** Whether a (scoped) text mentions this tenant's prefix: used for events of deleted objects. */
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

  /** Replaces this tenant's engine names by its own names inside an engine message. */
  unscopeText(text: string): string {
    return text.split(this.prefix).join("");
  }
}

/** Networks when SWARM_NETWORK_AUTHORIZATION=false: one namespace, everyone's. */
export class SharedScope implements Scope {
  engineName(visible: string): string {
    return visible.replace(/^\//, "");
  }
  visibleName(engineName: string): string {
    return engineName;
  }
  owns(): boolean {
    return true;
  }
  ownerLabels(): Record<string, string> {
    return {};
  }
  ownerFilter(): undefined {
    return undefined;
  }
}

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
  const visible: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) if (!key.startsWith(LABEL_PREFIX)) visible[key] = value;
  return visible as T;
}

export interface ResolvedContainer {
  id: string;
  /** The engine-side name, without the leading slash. */
  engineName: string;
}

export interface ResolvedNetwork {
  id: string;
  engineName: string;
  /** `bridge` and `none`, which every tenant may use but nobody owns. */
  predefined: boolean;
}

/** Predefined networks a tenant may attach to; `host` is a host escape and stays out. */
export const SHARED_NETWORKS = new Set(["bridge", "none"]);

const filtersQuery = (filters: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(filters));

/**
 * Resolves tenants' references against one engine. Positive answers for full ids are cached per
 * tenant (ids never change owner and are never reused), so repeated calls by id skip a lookup
 * without letting one tenant's cache tell it anything about another's.
 */
export class Resolver {
  private readonly ownedIds = new LRUCache<string, true>({ max: 50_000 });

  constructor(private readonly engine: Upstream) {}

  async container(scope: TenantScope, ref: string): Promise<ResolvedContainer> {
    const bare = ref.replace(/^\//, "");
    if (bare === "" || bare.includes("/")) throw noSuch("container", ref);
    if (!FULL_ID.test(bare)) {
      const byName = await this.engine.json("GET", `${ENGINE_API}/containers/${encodeURIComponent(scope.engineName(bare))}/json`);
      if (byName.status === 200 && scope.owns(byName.body?.Config?.Labels)) {
        return { id: byName.body.Id, engineName: String(byName.body.Name).replace(/^\//, "") };
      }
      if (byName.status !== 404 && byName.status !== 200) throw passEngineError(byName);
      if (!ID_PREFIX.test(bare)) throw noSuch("container", ref);
    } else if (this.ownedIds.has(`${scope.tenant}:c:${bare}`)) {
      const cached = await this.engine.json("GET", `${ENGINE_API}/containers/${bare}/json`);
      if (cached.status === 200) return { id: bare, engineName: String(cached.body.Name).replace(/^\//, "") };
      throw noSuch("container", ref);
    }
    const listed = await this.engine.json(
      "GET",
      `${ENGINE_API}/containers/json?all=1&filters=${filtersQuery({ id: [bare], label: [scope.ownerFilter()] })}`,
    );
    if (listed.status !== 200) throw passEngineError(listed);
    const matches = (listed.body as { Id: string; Names: string[] }[]).filter((c) => c.Id.startsWith(bare));
    if (matches.length === 0) throw noSuch("container", ref);
    if (matches.length > 1) throw badRequest(`multiple IDs found with provided prefix: ${bare}`, ref);
    const [match] = matches;
    this.ownedIds.set(`${scope.tenant}:c:${match!.Id}`, true);
    return { id: match!.Id, engineName: (match!.Names[0] ?? "").replace(/^\//, "") };
  }

  async network(scope: Scope, ref: string): Promise<ResolvedNetwork> {
    if (ref === "" || ref.includes("/") || ref === "host") throw noSuch("network", ref);
    if (!FULL_ID.test(ref)) {
      const engineName = SHARED_NETWORKS.has(ref) ? ref : scope.engineName(ref);
      const byName = await this.engine.json("GET", `${ENGINE_API}/networks/${encodeURIComponent(engineName)}`);
      if (byName.status === 200 && byName.body.Name === engineName && isVisibleNetwork(scope, byName.body)) {
        return { id: byName.body.Id, engineName, predefined: SHARED_NETWORKS.has(engineName) };
      }
      if (byName.status !== 404 && byName.status !== 200) throw passEngineError(byName);
      if (!ID_PREFIX.test(ref)) throw noSuch("network", ref);
    }
    const listed = await this.engine.json("GET", `${ENGINE_API}/networks?filters=${filtersQuery({ id: [ref] })}`);
    if (listed.status !== 200) throw passEngineError(listed);
    const matches = (listed.body as NetworkSummary[]).filter(
      (n) => n.Id.startsWith(ref) && isVisibleNetwork(scope, n),
    );
    if (matches.length === 0) throw noSuch("network", ref);
    if (matches.length > 1) throw badRequest(`network ${ref} is ambiguous (${matches.length} matches found based on ID prefix)`, ref);
    const [match] = matches;
    return { id: match!.Id, engineName: match!.Name, predefined: SHARED_NETWORKS.has(match!.Name) };
  }

  async volume(scope: TenantScope, name: string): Promise<{ engineName: string }> {
    if (name === "" || name.includes("/")) throw noSuch("volume", name);
    const engineName = scope.engineName(name);
    const found = await this.engine.json("GET", `${ENGINE_API}/volumes/${encodeURIComponent(engineName)}`);
    if (found.status === 200 && scope.owns(found.body.Labels)) return { engineName };
    if (found.status !== 404 && found.status !== 200) throw passEngineError(found);
    throw noSuch("volume", name);
  }

  async exec(scope: TenantScope, execId: string): Promise<{ id: string; containerId: string }> {
    if (!FULL_ID.test(execId)) throw noSuch("exec instance", execId);
    const found = await this.engine.json("GET", `${ENGINE_API}/exec/${execId}/json`);
    if (found.status === 404) throw noSuch("exec instance", execId);
    if (found.status !== 200) throw passEngineError(found);
    try {
      await this.container(scope, found.body.ContainerID);
    } catch {
      throw noSuch("exec instance", execId);
    }
    return { id: execId, containerId: found.body.ContainerID };
  }
}

/**
 * Values of a `network`/`container`/`volume` filter as the engine must see them: the tenant's own
 * names scoped, predefined networks as they are, and hex values also kept raw since they may be ids.
 */
export function scopedFilterValues(scope: Scope, values: readonly string[]): string[] {
  return values.flatMap((value) => {
    if (SHARED_NETWORKS.has(value)) return [value];
    return ID_PREFIX.test(value) || FULL_ID.test(value) ? [value, scope.engineName(value)] : [scope.engineName(value)];
  });
}

interface NetworkSummary {
  Id: string;
  Name: string;
  Labels: Labels;
}

/** A network a tenant may see: its own, or a predefined one it may use; never `host`. */
export function isVisibleNetwork(scope: Scope, network: { Name: string; Labels: Labels }): boolean {
  if (network.Name === "host") return false;
  return SHARED_NETWORKS.has(network.Name) || scope.owns(network.Labels);
}

/** An engine error met during a lookup, passed on with the engine's own status and message. */
export function passEngineError(answer: { status: number; body: any }): Refusal {
  const message = typeof answer.body?.message === "string" ? answer.body.message : `engine answered ${answer.status}`;
  return new Refusal(answer.status >= 400 ? answer.status : 502, message, "engine-error");
}
