/**
 * A machine's cloud-init NoCloud seed: what OpenStack's metadata service would give the VM. Pure.
 * The user data is the program's own, unchanged; meta-data names the instance, and network-config
 * gives the machine the address its port has (and its floating address, which OpenStack would NAT to
 * it, as a second address: the host reaches the bridge directly).
 */
import { stringify } from "yaml";
import type { BaseRelease } from "./images.ts";

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
  /** The machine's base image: its cloud-init decides how the default route may be written. */
  release: BaseRelease;
}

export interface Seed {
  "meta-data": string;
  "user-data": string;
  "network-config": string;
}

/** nspawn's `--network-bridge` gives the machine one interface, host0. */
export const MACHINE_INTERFACE = "host0";

/**
 * gateway4 on Debian 12, whose cloud-init (22.4) refuses a route "to: default"; a route on Debian 13,
 * whose cloud-init (25.1) records gateway4 as deprecated, so that its status is "degraded done" and
 * `cloud-init status --wait` exits 2, which the program's wait for cloud-init takes as a failure.
 */
const defaultRoute = (release: BaseRelease, gateway: string) =>
  release === "bookworm" ? { gateway4: gateway } : { routes: [{ to: "0.0.0.0/0", via: gateway }] };

export function renderSeed(input: SeedInput): Seed {
  return {
    "meta-data": stringify({ "instance-id": input.instanceId, "local-hostname": input.hostname, "public-keys": input.publicKeys }),
    "user-data": input.userData,
    "network-config": stringify({
      version: 2,
      ethernets: {
        [MACHINE_INTERFACE]: {
          addresses: input.addresses,
          ...defaultRoute(input.release, input.gateway),
          nameservers: { addresses: input.dnsServers },
        },
      },
    }),
  };
}
