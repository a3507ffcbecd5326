/**
 * Published ports cost the host something outside the container's cgroup (with the engine's
 * userland proxy, a docker-proxy process each; without it, NAT rules and host ports), so a container
 * may publish at most BERTH_PUBLISHED_PORTS_MAX. The docker CLI expands `-p 40000-40100:40000-40100`
 * into one PortBindings key per port, each binding publishing one host port; a host range for one
 * container port (`-p 40000-41000:80`) publishes one port the engine picks in the range. `-P`
 * publishes every exposed port without a binding: the create's and its image's. All of a tenant's
 * containers, running or not (a stopped one takes its ports back when it starts), publish at most
 * BERTH_PUBLISHED_PORTS_TENANT_MAX together.
 */
import { badRequest } from "../http/errors.ts";
import { FieldRefusal } from "./fields.ts";

/** A container port key as the engine takes it: one port and a protocol (`80/tcp`, `53/udp`). */
const PORT_KEY = /^\d{1,5}(\/(tcp|udp|sctp))?$/;

function portKeys(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== "object" || Array.isArray(value)) throw badRequest(`${field} must be an object`);
  const keys = Object.keys(value);
  const bad = keys.find((key) => !PORT_KEY.test(key));
  if (bad !== undefined) throw badRequest(`${field}: "${bad}" is not one port (give port/protocol, e.g. 80/tcp)`);
  return keys;
}

/**
 * How many host ports a create publishes, given the exposed ports of its image. Keys are taken as
 * written, as the engine takes them: `80` and `80/tcp` are two keys to it, and each one's bindings
 * publish (both on 80/tcp).
 */
export function publishedPortCount(hostConfig: Record<string, any>, exposedPorts: unknown, imageExposedPorts: unknown): number {
  const bindings = (hostConfig.PortBindings ?? {}) as Record<string, unknown[] | null>;
  const bound = new Map(portKeys(bindings, "HostConfig.PortBindings").map((port) => [port, bindings[port]?.length ?? 0]));
  if (hostConfig.PublishAllPorts === true) {
    for (const port of [...portKeys(exposedPorts, "ExposedPorts"), ...portKeys(imageExposedPorts, "the image's ExposedPorts")]) {
      if (!bound.get(port)) bound.set(port, 1);
    }
  }
  return [...bound.values()].reduce((sum, count) => sum + count, 0);
}

/** The host ports a create publishes, refused over one container's limit. */
export function checkPublishedPorts(hostConfig: Record<string, any>, exposedPorts: unknown, imageExposedPorts: unknown, max: number): number {
  const count = publishedPortCount(hostConfig, exposedPorts, imageExposedPorts);
  if (count > max) throw new FieldRefusal("HostConfig.PortBindings", `${count} published ports is over the limit of ${max} a container`);
  return count;
}

/** Why a tenant's ports in use plus a new container's would be over its limit. */
export function tenantPortsExcess(max: number, inUse: number, requested: number): string | undefined {
  return inUse + requested > max ? `published port limit exceeded: limit ${max} a tenant, in use ${inUse}, requested ${requested}` : undefined;
}
