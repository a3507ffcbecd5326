/**
 * The tenants' sandbox (`berth:sandbox`), one choice for the whole stack, rendered the same way for
 * the VMs, the local cluster and the test harness:
 *
 * - `none`: containers run under runc; root in a container is root on the node less capabilities.
 * - `userns`: the engines remap user namespaces (`--userns-remap`): root in a container is the
 *   unprivileged uid REMAP.firstId on the node, and files it writes in volumes belong to that uid.
 * - `gvisor`: the proxy runs every tenant container under gVisor's `runsc` (Debian 12's build of
 *   2022-12-19, ptrace platform; on the current line Debian 13's of 2024-07-29, which the harness's
 *   current-line sandbox suites run): the container talks to gVisor's kernel, not the node's.
 *
 * The two are exclusive: this runsc cannot start a sandbox on an engine that remaps user namespaces
 * ("cannot read client sync file: waiting for sandbox to start: EOF").
 */
import { z } from "zod";

export const SANDBOXES = ["none", "userns", "gvisor"] as const;
export type Sandbox = (typeof SANDBOXES)[number];
export const sandboxSchema = z.enum(SANDBOXES, { error: `expected one of ${SANDBOXES.join(", ")}` });

/**
 * The remap user and its subordinate ids, fixed so the proxy can own volume directories by the
 * same uid on every node. Far above the ranges `useradd` hands out from 100000 (a cloud image's
 * default user has one), so it never overlaps another user's.
 */
export const REMAP = { user: "dockremap", firstId: 10_000_000, count: 65_536 } as const;

/** The runtime name the engines register gVisor under, and the proxy names in creates. */
export const GVISOR_RUNTIME = "runsc";
export const RUNSC_PATH = "/usr/bin/runsc";

/** Debian packages a node needs for the sandbox. */
export function sandboxPackages(sandbox: Sandbox): string[] {
  return sandbox === "gvisor" ? ["runsc"] : [];
}

/** dockerd flags beyond the cluster's own (DOCKER_OPTS). */
export function sandboxDockerFlags(sandbox: Sandbox): string[] {
  return sandbox === "userns" ? [`--userns-remap=${REMAP.user}`] : [];
}

/**
 * dockerd's `runtimes` (daemon.json: DOCKER_OPTS' `--add-runtime` cannot pass arguments).
 * `--network=host`: gVisor's own network stack refuses to start here. This runsc decides it is in
 * the node's root network namespace when /proc/sys/net/core/rmem_default exists, which kernels
 * since 5.x show in every namespace ("cannot run with network enabled in root network namespace").
 * With `host`, gVisor passes socket calls to the node's kernel inside the container's own network
 * namespace: the container's network is as isolated as under runc, the rest of its kernel is gVisor's.
 */
export function sandboxRuntimes(sandbox: Sandbox): Record<string, { path: string; runtimeArgs: string[] }> {
  return sandbox === "gvisor" ? { [GVISOR_RUNTIME]: { path: RUNSC_PATH, runtimeArgs: ["--network=host"] } } : {};
}

/**
 * Where the engine keeps everything when it is not /var/lib/docker: under --userns-remap dockerd 20.10
 * moves its root, libnetwork's store included, to <root>/<uid>.<gid> (moby v20.10
 * daemon/daemon_unix.go setupDaemonRoot).
 */
export function sandboxDockerDataRoot(sandbox: Sandbox, dataRoot = "/var/lib/docker"): string | undefined {
  return sandbox === "userns" ? `${dataRoot}/${REMAP.firstId}.${REMAP.firstId}` : undefined;
}

/** The proxy's settings for the sandbox (BERTH_TENANT_RUNTIME, BERTH_VOLUME_OWNER). */
export function sandboxProxySettings(sandbox: Sandbox): { tenantRuntime?: string; volumeOwner?: string } {
  if (sandbox === "gvisor") return { tenantRuntime: GVISOR_RUNTIME };
  if (sandbox === "userns") return { volumeOwner: `${REMAP.firstId}:${REMAP.firstId}` };
  return {};
}

/**
 * Shell commands (root, before dockerd starts) that make the remap user and give it exactly the
 * REMAP range in /etc/subuid and /etc/subgid. Idempotent: a node runs them at every boot.
 */
export function remapUserCommands(): string[] {
  const line = `${REMAP.user}:${REMAP.firstId}:${REMAP.count}`;
  return [
    `id -u ${REMAP.user} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ${REMAP.user}`,
    ...["/etc/subuid", "/etc/subgid"].map((file) => `touch ${file} && sed -i '/^${REMAP.user}:/d' ${file} && echo ${line} >> ${file}`),
  ];
}
