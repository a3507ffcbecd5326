/**
 * Address arithmetic for the stack's checks and plans: CIDRs the operator allows, the private
 * subnet, and fixed addresses asked for in the node map. Pure, so config validation, the
 * security-group tables and the policy pack share one notion of "inside" and "the whole internet".
 */
import { isIP } from "node:net";

export interface Cidr {
  /** The CIDR as given, normalised to its network address (10.0.0.5/24 -> 10.0.0.0/24). */
  text: string;
  version: 4 | 6;
  network: bigint;
  prefix: number;
}

function addressToBigInt(address: string, version: 4 | 6): bigint {
  if (version === 4) return address.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  const [head = "", tail = ""] = address.includes("::") ? address.split("::") : [address, ""];
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function bigIntToAddress(value: bigint, version: 4 | 6): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === "0") length++;
    if (length > best.length) best = { start, length };
  }
  if (best.start < 0) return groups.join(":");
  return `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.length).join(":")}`;
}

const bits = (version: 4 | 6): number => (version === 4 ? 32 : 128);

/** Parses "a.b.c.d/n" or "x::y/n"; undefined when it is not a CIDR (a bare address is not one). */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([^/\s]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) return undefined;
  const version = isIP(match[1]!);
  if (version !== 4 && version !== 6) return undefined;
  if (version === 6 && match[1]!.includes(".")) return undefined;
  const prefix = Number(match[2]);
  if (prefix > bits(version)) return undefined;
  const hostBits = BigInt(bits(version) - prefix);
  const network = (addressToBigInt(match[1]!, version) >> hostBits) << hostBits;
  return { text: `${bigIntToAddress(network, version)}/${prefix}`, version, network, prefix };
}

/** The last /`prefix` subnet inside `cidr` (of 172.20.0.0/14, the last /24 is 172.23.255.0/24). */
export function lastSubnet(cidr: Cidr, prefix: number): string {
  if (prefix < cidr.prefix || prefix > bits(cidr.version)) throw new Error(`/${prefix} is not a subnet of ${cidr.text}`);
  const last = cidr.network + (1n << BigInt(bits(cidr.version) - cidr.prefix)) - (1n << BigInt(bits(cidr.version) - prefix));
  return `${bigIntToAddress(last, cidr.version)}/${prefix}`;
}

/** True for a range that admits every address of its family (0.0.0.0/0, ::/0). */
export function isWholeInternet(cidr: Cidr): boolean {
  return cidr.prefix === 0;
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const version = isIP(address);
  if (version !== cidr.version) return false;
  const hostBits = BigInt(bits(cidr.version) - cidr.prefix);
  return addressToBigInt(address, cidr.version) >> hostBits === cidr.network >> hostBits;
}

/** The OpenStack ethertype of a CIDR's family. */
/** Whether two ranges share an address (one holds the other's network address). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.version !== b.version) return false;
  const widest = BigInt(bits(a.version) - Math.min(a.prefix, b.prefix));
  return a.network >> widest === b.network >> widest;
}

export function ethertype(cidr: Cidr): "IPv4" | "IPv6" {
  return cidr.version === 4 ? "IPv4" : "IPv6";
}

/**
 * Checks fixed addresses asked for in the node map against a new subnet: inside it, not its network
 * or broadcast address, not the gateway (Neutron takes the first host), and each used once. Returns
 * one message per problem, keyed by the name that asked for the address.
 */
export function checkFixedAddresses(subnet: Cidr, requests: ReadonlyArray<{ name: string; address: string }>): Map<string, string> {
  const problems = new Map<string, string>();
  const size = 1n << BigInt(bits(subnet.version) - subnet.prefix);
  const gateway = bigIntToAddress(subnet.network + 1n, subnet.version);
  const owners = new Map<string, string>();
  for (const { name, address } of requests) {
    if (isIP(address) !== subnet.version || !cidrContains(subnet, address)) {
      problems.set(name, `${address} is not inside the private subnet ${subnet.text}`);
      continue;
    }
    const offset = addressToBigInt(address, subnet.version) - subnet.network;
    if (offset === 0n || (subnet.version === 4 && offset === size - 1n)) {
      problems.set(name, `${address} is the network or broadcast address of ${subnet.text}`);
    } else if (address === gateway) {
      problems.set(name, `${address} is the gateway of ${subnet.text}`);
    } else if (owners.has(address)) {
      problems.set(name, `${address} is already asked for by ${owners.get(address)}`);
    } else {
      owners.set(address, name);
    }
  }
  return problems;
}

/**
 * When neither the stack nor Neutron says (no `net-mtu` extension): Geneve's 1442, the smallest of
 * Neutron's usual tenant networks (VXLAN 1450, flat or VLAN 1500), so packets fit on all of them.
 */
export const DEFAULT_NETWORK_MTU = 1442;

/** The MTU the engines and their networks use: the operator's, else Neutron's, else the safe default. */
export function effectiveMtu(configured: number | undefined, fromNeutron: number | undefined): number {
  return configured ?? (fromNeutron !== undefined && fromNeutron > 0 ? fromNeutron : DEFAULT_NETWORK_MTU);
}
