/**
 * The four role plans for one realistic cluster (addresses as Neutron would hand them out), shared
 * by the template tests so every rendered file is checked from the same input the program uses.
 */
import { etcdPlan, managerPlan, nfsPlan, nodePlan, type RolePlan } from "../../infra/roles.ts";
import type { Sandbox } from "../../infra/sandbox.ts";
import { ENGINE_LINE_DEFAULTS, type EngineLine } from "../../infra/engine-line.ts";

export const CLUSTER = {
  cidr: "10.42.0.0/24",
  manager: "10.42.0.10",
  managerPublic: "203.0.113.10",
  etcd: "10.42.0.11",
  nfs: "10.42.0.12",
  nodes: { "docker-host-1": "10.42.0.21", "docker-host-2": "10.42.0.22" },
  dataVolumeId: "5f0c7b1e-93a4-4c1e-b0f2-6d2f3e8a9c10",
  /** Neutron's MTU on a VXLAN tenant network. */
  mtu: 1450,
} as const;

/** The example's first node on an engine line: the 20.10 line's with the OpenStorage plugin, which the current line has not. */
export function exampleNodePlan(line: EngineLine, sandbox: Sandbox = "none"): RolePlan {
  return nodePlan({
    hostname: "docker-host-1",
    address: CLUSTER.nodes["docker-host-1"],
    overlays: line === "20.10" ? { line, etcdAddress: CLUSTER.etcd } : { line },
    nfsAddress: CLUSTER.nfs,
    clusterCidr: CLUSTER.cidr,
    dockerVersion: ENGINE_LINE_DEFAULTS[line].dockerVersion,
    containerAddressPool: "172.20.0.0/14",
    clusterId: "berth-prod",
    osd: { enabled: line === "20.10", image: "openstorage/osd" },
    mtu: CLUSTER.mtu,
    sandbox,
  });
}

export function examplePlans(sandbox: Sandbox = "none"): Record<string, RolePlan> {
  return {
    node: exampleNodePlan("20.10", sandbox),
    nfs: nfsPlan({ hostname: "berth-prod-nfs", clientCidr: CLUSTER.cidr, dataVolumeId: CLUSTER.dataVolumeId, dataVolumeSize: 100 }),
    etcd: etcdPlan({ hostname: "berth-prod-etcd", address: CLUSTER.etcd, clusterToken: "berth-prod" }),
    manager: exampleManagerPlan({ osd: true, sandbox }),
  };
}

/** The example manager, with the OpenStorage plugin on the nodes or volumes over NFS options. */
export function exampleManagerPlan(options: { osd: boolean; sandbox?: Sandbox }): RolePlan {
  return managerPlan({
    hostname: "berth-prod-manager",
    proxy: {
      port: 2376,
      authBackend: "keystone",
      keystoneUrl: "https://keystone.example:5000/v3",
      adminTenantId: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
      membersTenantId: "f9e8d7c6b5a4938271605f4e3d2c1b0a",
      multiTenant: true,
      networkAuthorization: true,
      flavors: { default: { Memory: 64 }, medium: { Memory: 128 }, large: { Memory: 256 } },
      quota: { Memory: 300 },
      apiFilter: { disableapi: ["networkconnect", "networkdisconnect"] },
    },
    engines: Object.values(CLUSTER.nodes).map((address) => ({ address, port: 2375 })),
    nfsAddress: CLUSTER.nfs,
    osd: { enabled: options.osd },
    mtu: CLUSTER.mtu,
    sandbox: options.sandbox ?? "none",
  });
}
