/**
 * Where a tenant may make an engine connect. A pull, `/auth`, a distribution inspect, a search, a
 * push, an import from a URL or a build's remote context each make the engine open a connection to
 * an address the tenant writes; aimed at the cluster's own addresses (etcd, the engines' API, SSH,
 * the metadata service), the engine's differing errors would map which ports answer. So a registry
 * or URL whose host is, or resolves to, an address in the private ranges (BERTH_REGISTRY_PRIVATE_CIDRS,
 * by default every loopback, link-local, private and reserved range) is refused before the engine is
 * asked, always with the same message; registries the operator lists (BERTH_TENANT_REGISTRIES) pass.
 * Docker Hub (an image reference naming no registry) always passes.
 */
import { BlockList, isIP } from "node:net";
import { Refusal } from "../http/errors.ts";

export interface RegistryPolicy {
  /** Addresses tenants' registries and URLs may not be in. */
  privateRanges: BlockList;
  /** `host` or `host:port` (lower case) of registries tenants may use although they are private. */
  allowed: ReadonlySet<string>;
}

/**
 * Everything that is not the public internet, IPv4 and IPv6 (IPv4-mapped addresses are checked as
 * IPv4). The IPv6 prefixes that embed an IPv4 address (compatible, translated, NAT64 well-known and
 * local-use, 6to4, Teredo) are refused whole: a translator or tunnel on the way may take them to it.
 */
export const DEFAULT_PRIVATE_CIDRS = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/3",
  "::/96",
  "::1/128",
  "::ffff:0:0:0/96",
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  "100::/64",
  "2001::/32",
  "2002::/16",
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
];

/** A BlockList of CIDRs, or the first one that cannot be read. */
export function privateRanges(cidrs: readonly string[]): BlockList | { bad: string } {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split("/");
    const family = isIP(address ?? "");
    const bits = Number(prefix);
    if (family === 0 || !/^\d+$/.test(prefix ?? "") || bits > (family === 4 ? 32 : 128)) return { bad: cidr };
    list.addSubnet(address!, bits, family === 4 ? "ipv4" : "ipv6");
  }
  return list;
}

/**
 * The registry an image reference names (`10.0.0.5:5000/app:1` → `10.0.0.5:5000`), or undefined for
 * Docker Hub: as Docker reads it, the first path component is a registry when it has a `.` or a
 * `:`, or is `localhost`.
 */
export function imageRegistry(reference: string): string | undefined {
  const slash = reference.indexOf("/");
  if (slash === -1) return undefined;
  const first = reference.slice(0, slash);
  return first.includes(".") || first.includes(":") || first.toLowerCase() === "localhost" ? first : undefined;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const SCP_LIKE = /^[^/@]+@([^/:]+):/;

/** The `host[:port]` of a URL or of `/auth`'s server address (`https://r:5000/v1/`, `r:5000`, `git@r:x.git`). */
export function urlAuthority(raw: string): string {
  if (SCHEME.test(raw)) {
    const authority = raw.replace(SCHEME, "").split(/[/?#]/)[0]!;
    return authority.slice(authority.lastIndexOf("@") + 1);
  }
  const scp = SCP_LIKE.exec(raw);
  return scp ? scp[1]! : raw.split("/")[0]!;
}

/** `host:port` → host, `[v6]:port` → v6, `host` → host. */
function hostOf(authority: string): string {
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(authority);
  if (bracketed) return bracketed[1]!;
  return authority.split(":").length > 2 ? authority : authority.replace(/:\d*$/, "");
}

const refusal = (authority: string) => new Refusal(403, `registry ${authority} is not available to tenants of this service`, "host-restriction", authority);

export type Lookup = (host: string) => Promise<string[]>;

/**
 * Refuses a registry or URL authority in the private ranges, unless the operator allowed it. A name
 * is resolved here first; one that does not resolve is refused too, since the proxy cannot tell
 * where the engine would connect.
 */
export async function checkRegistry(authority: string, policy: RegistryPolicy, lookup: Lookup): Promise<void> {
  const normalized = authority.toLowerCase();
  const host = hostOf(normalized);
  if (policy.allowed.has(normalized) || policy.allowed.has(host)) return;
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else if (host === "" || host === "localhost" || host.endsWith(".localhost")) throw refusal(authority);
  else addresses = await lookup(host).catch(() => []);
  if (addresses.length === 0 || addresses.some((address) => policy.privateRanges.check(address, isIP(address) === 6 ? "ipv6" : "ipv4"))) {
    throw refusal(authority);
  }
}
