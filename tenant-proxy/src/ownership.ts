/**
 * Who owns what, kept on the objects themselves so the proxy stays stateless: every container,
 * network and volume a tenant creates carries the label `berth.tenant=<tenant>`, and its engine-side
 * name is `<tenant>_<name>` so two tenants can both own `web` (tenant ids never contain `_`, so the
 * prefix is unambiguous). A `Scope` turns a caller's names into engine names and back: a tenant's
 * scope prefixes and filters, an administrator's is the identity and sees everything. All of it is
 * pure; finding objects on the engines is resolver.ts's.
 */
import { badRequest } from "./http/errors.ts";

export const LABEL_PREFIX = "berth.";
export const OWNER_LABEL = "berth.tenant";

/** Docker's own rule for container and volume names; we apply it to what the tenant sees. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
export const FULL_ID = /^[0-9a-f]{64}$/;
export const ID_PREFIX = /^[0-9a-f]{1,63}$/;
/**
 * What may be a network's id or a prefix of one: a swarm's networks (the current line's tenant
 * overlays) have ids of 25 characters of [0-9a-z] (swarmkit's identity.NewID), not 64 hex digits.
 */
export const NETWORK_ID_PREFIX = /^[0-9a-z]{1,64}$/;

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
  const visible: Record<string, string> = {};
  for (const key of Object.keys(labels)) if (!key.startsWith(LABEL_PREFIX)) defineOwn(visible, key, labels[key]!);
  return visible as T;
}

/**
 * Sets a key of an object built from an engine's JSON. A plain assignment is what lists need to
 * be fast (200 containers' labels and networks each), but assigning "__proto__" would set the
 * object's prototype instead: that key, which JSON.parse reads as an ordinary one, is defined.
 */
export function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
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

/**
 * The engine's own networks, an administrator's even while tenants share networks: `host` is a host
 * escape; `docker_gwbridge` carries every tenant's overlay containers out of their node (the node
 * firewall keeps them apart by the subnet it was made with, which the engine would not give one it
 * re-made); a swarm's ingress network is its routing mesh. Shared, a tenant attached to the first
 * and removed the others.
 */
const ENGINE_NETWORKS: ReadonlySet<string> = new Set(["host", "docker_gwbridge"]);

/**
 * The engine's own networks by name, for where only a name is known (an event): `host`,
 * `docker_gwbridge` and the swarm's routing mesh, `ingress` (which inspect marks `Ingress`).
 */
export function isEngineNetworkName(name: string): boolean {
  return ENGINE_NETWORKS.has(name) || name === "ingress";
}

/** A network the caller may see: its own, or a predefined one it may use; the engine's own for administrators only. */
export function isVisibleNetwork(scope: Scope, network: { Name: string; Labels: Labels; Ingress?: boolean }): boolean {
  if (scope.unrestricted) return true;
  if (ENGINE_NETWORKS.has(network.Name) || network.Ingress === true) return false;
  return sharedNetworks(scope).has(network.Name) || scope.owns(network.Labels);
}

/**
 * Values of a `network`/`container`/`volume` filter as the engine must see them: the caller's own
 * names scoped, predefined networks as they are, and what may be an id also kept raw (`ids`: hex,
 * or for networks a swarm's 25-character ids too); what matches is still only the caller's own.
 */
export function scopedFilterValues(scope: Scope, values: readonly string[], ids: RegExp = ID_PREFIX): string[] {
  return values.flatMap((value) => {
    if (sharedNetworks(scope).has(value) || scope.unrestricted) return [value];
    return ids.test(value) || FULL_ID.test(value) ? [value, scope.engineName(value)] : [scope.engineName(value)];
  });
}
