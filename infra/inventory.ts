/**
 * The inventory: one JSON object that says where everything of a berth cluster is. The OpenStack
 * stack exports it (`pulumi stack output inventory --json`), the local cluster writes the same
 * shape, and the smoke scripts read it, so they run unchanged against either.
 */

import type { EngineLine } from "./engine-line.ts";

export const INVENTORY_VERSION = 1;

export interface InventoryHost {
  /** Hostname (for a docker node: its name in berth:nodes, which `docker info` shows as Name). */
  name: string;
  privateAddress: string;
  /** Only for a VM with a floating IP of its own. */
  publicAddress?: string;
  /** The host key its sshd presents ("ssh-ed25519 AAAA..."): the smoke scripts accept no other. */
  sshHostKey: string;
}

export interface Inventory {
  version: typeof INVENTORY_VERSION;
  /** The stack (or local cluster) this describes. */
  cluster: string;
  /** berth:engineLine: 20.10 (overlays through etcd) or current (through the nodes' swarm, the first node its manager). */
  engineLine: EngineLine;
  manager: InventoryHost & {
    publicAddress: string;
    /** SSH user on every VM; the manager is the bastion for the others (ssh -J). */
    sshUser: string;
  };
  /** Sorted by name. */
  nodes: Array<InventoryHost & { enginePort: number }>;
  nfs: InventoryHost & { shares: string[] };
  /** The 20.10 line's cluster store; the current line has none. */
  etcd?: InventoryHost & { clientUrl: string };
  proxy: {
    /** For DOCKER_HOST / docker -H, e.g. tcp://203.0.113.10:2376. */
    endpoint: string;
    /** The same over HTTPS, e.g. https://203.0.113.10:2376 (curl .../_ping). */
    url: string;
    port: number;
    authBackend: "keystone" | "static" | "none";
    keystoneUrl?: string;
  };
  ca: {
    /** The CA certificate tenants verify the proxy with (PEM). */
    pem: string;
    /** Where the same file lies on the manager. */
    managerPath: string;
    /** How to save it from the stack. */
    hint: string;
  };
  tenants: {
    /** A ready-to-run command for a tenant, with what to fill in. */
    onboarding: string;
  };
}

export interface InventoryInput {
  cluster: string;
  engineLine: EngineLine;
  sshUser: string;
  manager: InventoryHost & { publicAddress: string };
  nodes: Array<InventoryHost & { enginePort: number }>;
  nfs: InventoryHost & { shares: string[] };
  etcd?: InventoryHost & { clientPort: number };
  proxy: { port: number; authBackend: Inventory["proxy"]["authBackend"]; keystoneUrl?: string };
  ca: { pem: string; managerPath: string; hint: string };
}

/** The tenant's one-liner: docker with the stack's CA and a config dir holding the auth headers. */
export function onboardingHint(endpoint: string): string {
  return (
    `docker -H ${endpoint} --tlsverify --tlscacert ca.pem --config ~/.berth ps ` +
    '# ca.pem: the stack\'s CA; ~/.berth/config.json: {"HttpHeaders": {"X-Auth-Token": "<keystone token>", "X-Auth-TenantId": "<project id>"}}'
  );
}

export function buildInventory(input: InventoryInput): Inventory {
  const host = input.manager.publicAddress.includes(":") ? `[${input.manager.publicAddress}]` : input.manager.publicAddress;
  const endpoint = `tcp://${host}:${input.proxy.port}`;
  return {
    version: INVENTORY_VERSION,
    cluster: input.cluster,
    engineLine: input.engineLine,
    manager: { ...input.manager, sshUser: input.sshUser },
    nodes: [...input.nodes].sort((a, b) => a.name.localeCompare(b.name)),
    nfs: input.nfs,
    ...(input.etcd
      ? {
          etcd: {
            name: input.etcd.name,
            privateAddress: input.etcd.privateAddress,
            sshHostKey: input.etcd.sshHostKey,
            ...(input.etcd.publicAddress ? { publicAddress: input.etcd.publicAddress } : {}),
            clientUrl: `http://${input.etcd.privateAddress}:${input.etcd.clientPort}`,
          },
        }
      : {}),
    proxy: {
      endpoint,
      url: `https://${host}:${input.proxy.port}`,
      port: input.proxy.port,
      authBackend: input.proxy.authBackend,
      ...(input.proxy.keystoneUrl ? { keystoneUrl: input.proxy.keystoneUrl } : {}),
    },
    ca: input.ca,
    tenants: { onboarding: onboardingHint(endpoint) },
  };
}
