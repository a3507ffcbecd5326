/**
 * NET_RAW, one of docker's default capabilities, opens raw and packet sockets: a container could
 * forge frames, answer ARP for others and read what reaches its interface. Tenants' containers
 * lose it (they cannot add it back: CapAdd is refused unless the operator allows it), and `ping`
 * keeps working through unprivileged ICMP sockets, which `net.ipv4.ping_group_range` opens to
 * the container's groups in its own network namespace. Tenants' own sysctls stay refused.
 */
import { badRequest } from "../http/errors.ts";

type Json = Record<string, any>;

/**
 * Groups 0-65535: the kernel refuses a range with a group its user namespace does not map, and an
 * engine that remaps user namespaces (berth:sandbox userns) maps exactly 65536 ids into a container.
 */
const PING_GROUP_RANGE = { "net.ipv4.ping_group_range": "0 65535" };

const isNetRaw = (capability: unknown): boolean => /^(CAP_)?(NET_RAW|ALL)$/i.test(String(capability));

/** A checked HostConfig with NET_RAW dropped and ping opened in the container's network namespace. */
export function withoutRawSockets(host: Json): Json {
  const drops: unknown = host.CapDrop ?? [];
  if (!Array.isArray(drops)) throw badRequest("HostConfig.CapDrop must be a list");
  // A container that joins another's network namespace has no namespace of its own to set.
  const ownNetworkNamespace = !(typeof host.NetworkMode === "string" && host.NetworkMode.startsWith("container:"));
  return {
    ...host,
    CapDrop: drops.some(isNetRaw) ? drops : [...drops, "NET_RAW"],
    ...(ownNetworkNamespace ? { Sysctls: PING_GROUP_RANGE } : {}),
  };
}
