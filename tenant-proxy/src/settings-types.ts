/**
 * What the proxy's settings are, apart from how they are read: the pipeline and the handlers
 * depend on the shape only, while the reader (settings.ts) depends on the operations table to check
 * the API filter, so keeping the two together tied every handler to the table in an import circle.
 */
import type { LookupLimits } from "./identity/lookup-slots.ts";
import type { CallLimitSettings } from "./call-limits.ts";
import type { Flavors } from "./policy/flavors.ts";
import type { ContainerLimits } from "./policy/limits.ts";
import type { QuotaFile } from "./policy/quota.ts";
import type { RegistryPolicy } from "./policy/registries.ts";
import type { NodeSpec } from "./upstream/cluster.ts";
import type { Strategy } from "./upstream/scheduler.ts";

export interface Engines {
  nodes: NodeSpec[];
  /** Whether tenants see node names (`docker-host-1/web`): a nodes file makes a cluster. */
  named: boolean;
  healthIntervalMs: number;
  fanOutTimeoutMs: number;
  /** How often each node's in-memory state is read again in full (events keep it current between). */
  resyncIntervalMs: number;
}

/**
 * Named volumes: `local` keeps them on the node (one engine); in a cluster their data lives in the
 * tenant's directory under a shared root, reached by the nodes over NFS (the local driver with NFS
 * options), as a directory they all see (`shared-dir`, the local cluster on one machine), or through
 * the osd plugin. `root` is where the proxy itself sees that root, to make and remove directories.
 */
export type VolumeBackend =
  | { kind: "local" }
  | { kind: "nfs"; server: string; export: string; root: string; owner?: VolumeOwner }
  | { kind: "shared-dir"; root: string; owner?: VolumeOwner }
  | { kind: "osd"; driver: string };

/**
 * BERTH_VOLUME_OWNER: who owns a new volume directory. Under user-namespace remapping a container's
 * root is an unprivileged uid on the node, which could not write a directory the proxy made as root.
 */
export interface VolumeOwner {
  uid: number;
  gid: number;
}

export interface StaticToken {
  token: string;
  user: string;
  tenant: string;
  admin?: boolean;
}

export type AuthSettings =
  | { backend: "keystone"; keystoneUrl: string; cacheTtlMs: number; cacheSize: number; timeoutMs: number; lookups: LookupLimits }
  | { backend: "static"; tokensFile: string; tokens: StaticToken[] }
  | { backend: "none" };

/** What tenants may ask of the engines beyond the built-in host restrictions. */
export interface Policy {
  /** SWARM_FLAVORS_ENFORCED: the allowed memory sizes, `default` applied otherwise. */
  flavors?: Flavors;
  /** SWARM_ENFORCE_QUOTA: per-tenant limits on memory, containers and CPUs. */
  quota?: QuotaFile;
  /** SWARM_APIFILTER_FILE: operation ids tenants may not call. */
  disabledOperations: ReadonlySet<string>;
  /** BERTH_ALLOW_CAPABILITIES: capabilities tenants may add (none by default). */
  allowedCapabilities: ReadonlySet<string>;
  /** BERTH_TMPFS_MAX_MB: what a container's tmpfs mounts may hold together; unsized ones share what is left. */
  tmpfsMaxBytes: number;
  /** PIDs, /dev/shm, healthchecks, ulimits and published ports of one container (BERTH_PIDS_LIMIT_*, ...). */
  limits: ContainerLimits;
  /** BERTH_METADATA_MAX_BYTES: what one object's labels, and a container's command, may hold. */
  metadataMaxBytes: number;
  /** BERTH_TENANT_IMAGE_CHANGES: let tenants build, tag, push, remove, commit, load and save images. */
  tenantImageChanges: boolean;
  /** BERTH_REGISTRY_PRIVATE_CIDRS and BERTH_TENANT_REGISTRIES: where tenants may not, and may, make engines connect. */
  registries: RegistryPolicy;
  /** BERTH_TENANT_RUNTIME: the engine runtime every tenant container runs under (e.g. gVisor's runsc); unset: the engine's default. */
  tenantRuntime?: string;
}

export interface Settings {
  listen: { host: string; port: number };
  /** The engines: one (BERTH_UPSTREAM) or a cluster (BERTH_NODES_FILE). */
  engines: Engines;
  /** How the cluster picks a node for a new container (classic Swarm's strategies). */
  scheduler: Strategy;
  /** Where named volumes keep their data. */
  volumes: VolumeBackend;
  auth: AuthSettings;
  /** Tenant whose members act as administrators: they see and manage everything. */
  adminTenantId?: string;
  /** When set, only members of this project may use the service at all. */
  membersTenantId?: string;
  /** false: plain pass-through, no scoping (FDCS's debugging mode). */
  multiTenant: boolean;
  /** false: networks are shared by all tenants instead of owned (FDCS SWARM_NETWORK_AUTHORIZATION). */
  networkAuthorization: boolean;
  tls?: { cert: Buffer; key: Buffer };
  /** Largest JSON request body a tenant may send; streams (archives, attach) are not bodies. */
  maxBodyBytes: number;
  /** How long the proxy's own engine calls (lookups, creates) may take; tenants' streams are unbounded. */
  engineTimeoutMs: number;
  /** How long a client may take to send a request's head; a connection still without one is closed. */
  headersTimeoutMs: number;
  /** How many calls (streams included) one tenant, and everyone together, may have in progress. */
  callLimits: CallLimitSettings;
  policy: Policy;
  /** BERTH_NETWORK_MTU: the MTU of the engines' hosts' network; networks the proxy creates fit in it. */
  networkMtu?: number;
}
