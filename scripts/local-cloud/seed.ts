/**
 * A machine's cloud-init NoCloud seed: what OpenStack's metadata service would give the VM. Pure.
 * The user data is the program's own, unchanged; meta-data names the instance, and network-config
 * gives the machine the address its port has (and its floating address, which OpenStack would NAT to
 * it, as a second address: the host reaches the bridge directly).
 */
import { stringify } from "yaml";

export interface SeedInput {
  instanceId: string;
  hostname: string;
  /** address/prefix on the bridge. */
  addresses: string[];
  gateway: string;
  dnsServers: string[];
  userData: string;
  /** The key pair's public keys: cloud-init gives them to the image's default user. */
  publicKeys: string[];
}

export interface Seed {
  "meta-data": string;
  "user-data": string;
  "network-config": string;
}

/** nspawn's `--network-bridge` gives the machine one interface, host0. */
export const MACHINE_INTERFACE = "host0";

export function renderSeed(input: SeedInput): Seed {
  return {
    "meta-data": stringify({ "instance-id": input.instanceId, "local-hostname": input.hostname, "public-keys": input.publicKeys }),
    "user-data": input.userData,
    "network-config": stringify({
      version: 2,
      ethernets: {
        [MACHINE_INTERFACE]: {
          addresses: input.addresses,
          // gateway4, not a route "to: default": Debian 12's cloud-init (22.4) refuses the latter.
          gateway4: input.gateway,
          nameservers: { addresses: input.dnsServers },
        },
      },
    }),
  };
}
