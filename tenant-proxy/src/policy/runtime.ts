/**
 * The runtime a tenant's container runs under is the operator's choice, never the tenant's: with
 * BERTH_TENANT_RUNTIME set (gVisor's `runsc`), every tenant container gets it, so a tenant cannot
 * leave the sandbox by asking for the engine's default `runc`. The field rules already limit what a
 * tenant may name to the default; this decides what the engine is told.
 */
import { FieldRefusal } from "./fields.ts";

type Json = Record<string, any>;

/** A checked HostConfig with the service's runtime in it (unchanged when the operator sets none). */
export function withTenantRuntime(host: Json, tenantRuntime: string | undefined): Json {
  if (tenantRuntime === undefined) return host;
  const asked = host.Runtime ?? "";
  if (asked !== "" && asked !== tenantRuntime) {
    throw new FieldRefusal("HostConfig.Runtime", `containers run under the service's runtime (${tenantRuntime}); leave the runtime unset`);
  }
  return { ...host, Runtime: tenantRuntime };
}

/**
 * Whether tenants' containers run under the engine's own runtime (runc, on the node's kernel)
 * rather than a sandbox with a kernel of its own. Three things hold only then:
 * - `docker top` tells the truth: under runsc the engine gets the sandbox's process ids and looks
 *   them up in the node's own process table, so the answer lists the node's processes;
 * - a build's RUN steps run under the tenants' runtime: the engine runs them under its default
 *   runtime (runc), never the one the proxy sets on creates, so under a sandbox a build would run
 *   tenant code on the node's kernel;
 * - an exec's processes live in the container's cgroups: under runsc each exec that has not ended
 *   keeps a `runsc exec` process on the node in the engine's cgroup (see below).
 */
export const underEngineRuntime = (tenantRuntime: string | undefined): boolean => tenantRuntime === undefined || tenantRuntime === "runc";

/**
 * Execs one container may have at once under a sandbox. Under runsc each exec that has not ended
 * keeps a `runsc exec` process of its own on the node (about 18 MiB) in the engine's cgroup, not
 * the container's, so neither the container's memory nor its PIDs limit holds them: unbounded, a
 * tenant's `docker exec -d` loop takes the node's memory. A few is what interactive use needs, and
 * costs the node about what the container's own shim does.
 */
export const EXECS_PER_SANDBOXED_CONTAINER = 8;
