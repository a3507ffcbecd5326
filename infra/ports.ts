/**
 * The ports of an FDCS cluster (admin guide steps 2-14), shared by the security-group tables, the
 * rendered configuration and the policy pack so that the three can never disagree.
 */
export const SSH_PORT = 22;
/** The engines' plain-TCP API, for the tenant proxy only. */
export const ENGINE_PORT = 2375;
/** The tenant proxy's TLS endpoint (FDCS's "Swarm Manager" port). */
export const DEFAULT_PROXY_PORT = 2376;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** etcd's legacy client port, which the admin guide still opens and advertises. */
export const ETCD_LEGACY_CLIENT_PORT = 4001;
export const NFS_PORT = 2049;
/** Overlay networks: gossip (control plane, tcp and udp) and VXLAN (data plane, udp). */
export const OVERLAY_CONTROL_PORT = 7946;
export const OVERLAY_DATA_PORT = 4789;
/** A swarm's management API (the current line): the workers reach their manager's on it. */
export const SWARM_MANAGEMENT_PORT = 2377;
/** The range docker assigns published container ports from (the admin guide's step 4). */
export const CONTAINER_PORTS = { min: 32768, max: 61000 } as const;

/** Ports that belong inside the cluster: never opened to an address range, only to a cluster group. */
export const CLUSTER_ONLY_PORTS: ReadonlyArray<{ port: number; service: string }> = [
  { port: ENGINE_PORT, service: "the docker engine API" },
  { port: ETCD_CLIENT_PORT, service: "etcd" },
  { port: ETCD_PEER_PORT, service: "etcd peers" },
  { port: ETCD_LEGACY_CLIENT_PORT, service: "etcd (legacy client port)" },
  { port: NFS_PORT, service: "NFS" },
  { port: OVERLAY_CONTROL_PORT, service: "the overlay control plane" },
  { port: OVERLAY_DATA_PORT, service: "the overlay data plane" },
  { port: SWARM_MANAGEMENT_PORT, service: "the swarm's management API" },
];
