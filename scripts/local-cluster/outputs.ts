/**
 * What the local cluster hands its users, in .local/: the inventory (the very shape the Pulumi
 * stack exports, from infra/inventory.ts, so the smoke scripts read either), an env file for the
 * docker CLI, one docker config dir per Keystone user (written by scripts/lib like docker-config
 * writes them, plus a docker context naming the proxy, so `docker --config <dir> ps` needs no
 * DOCKER_HOST), and an ssh_config/known_hosts pair that reaches every host through the manager.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildInventory, type Inventory } from "../../infra/inventory.ts";
import { ENGINE_PORT, ETCD_CLIENT_PORT } from "../../infra/ports.ts";
import { NFS_SHARES } from "../../infra/roles.ts";
import { writeDockerConfig } from "../lib/docker-config.ts";
import { issueKeystoneToken } from "../lib/keystone-token.ts";
import type { Keystone } from "../harness/index.ts";
import { sshHostKey, type ClusterHost } from "./daemons.ts";
import { SSH_PORT, TENANTS, type ClusterLayout } from "./layout.ts";

const CONTEXT = "berth-local";

export interface InventoryInput {
  manager: ClusterHost;
  nodes: ClusterHost[];
  nfs: ClusterHost;
  etcd: ClusterHost;
  proxyPort: number;
  keystoneUrl: string;
  caFile: string;
}

export function localInventory(layout: ClusterLayout, input: InventoryInput): Inventory {
  const privateHost = (host: ClusterHost) => ({ name: host.name, privateAddress: host.address, sshHostKey: sshHostKey(layout, host) });
  return buildInventory({
    cluster: `local (${layout.bridge}, ${layout.subnet})`,
    // The local cluster's engines are Debian 12's 20.10 (etcd among its daemons).
    engineLine: "20.10",
    sshUser: "root",
    manager: { ...privateHost(input.manager), publicAddress: input.manager.address },
    nodes: input.nodes.map((node) => ({ ...privateHost(node), enginePort: ENGINE_PORT })),
    nfs: { ...privateHost(input.nfs), shares: NFS_SHARES.map((share) => share.path) },
    etcd: { ...privateHost(input.etcd), clientPort: ETCD_CLIENT_PORT },
    proxy: { port: input.proxyPort, authBackend: "keystone", keystoneUrl: input.keystoneUrl },
    ca: {
      pem: readFileSync(input.caFile, "utf8"),
      managerPath: input.caFile,
      hint: `the local cluster's CA is ${input.caFile} (also ca.pem in every tenant's config dir)`,
    },
  });
}

/**
 * `. .local/env` makes docker and docker-compose talk to the proxy as docker-user-1; `berth_user
 * <user>` switches. Each tenant's dir is both DOCKER_CONFIG (the token headers) and DOCKER_CERT_PATH
 * (ca.pem and the placeholder client pair compose insists on): never the CA's own folder, which
 * holds its private key.
 */
export function envFile(tenantsDir: string, endpoint: string): string {
  return [
    "# berth: sourcing this file makes docker and docker-compose the tenant docker-user-1;",
    "# `berth_user docker-user-2` switches to another user. `docker --config <dir>` works too.",
    `export DOCKER_HOST=${endpoint}`,
    "export DOCKER_TLS_VERIFY=1",
    `berth_user() { [ -d "${tenantsDir}/$1" ] || { echo "no tenant dir ${tenantsDir}/$1" >&2; return 1; }; export DOCKER_CONFIG="${tenantsDir}/$1" DOCKER_CERT_PATH="${tenantsDir}/$1"; }`,
    "berth_user docker-user-1",
    "",
  ].join("\n");
}

export interface TenantToken {
  user: string;
  project: string;
  projectId: string;
  expiresAt: string;
}

/** The transcript's projects, each user a member of its project; returns the project ids by name. */
export async function createTenants(keystone: Keystone, passwords: Record<string, string>): Promise<Record<string, string>> {
  const projectIds: Record<string, string> = {};
  for (const tenant of TENANTS) {
    const projectId = await keystone.createProject(tenant.project);
    projectIds[tenant.project] = projectId;
    for (const user of tenant.users) await keystone.createUser(user, passwords[user]!, [projectId]);
  }
  return projectIds;
}

/** Issues each user a project-scoped token and writes their docker config dir under `tenantsDir`; returns the tokens' expiry. */
export async function writeTenantConfigs(
  tenantsDir: string,
  keystoneUrl: string,
  passwords: Record<string, string>,
  endpoint: string,
  caFile: string,
): Promise<TenantToken[]> {
  const users = TENANTS.flatMap((tenant) => tenant.users.map((user) => ({ user, project: tenant.project })));
  return Promise.all(
    users.map(async ({ user, project }) => {
      const issued = await issueKeystoneToken({ authUrl: keystoneUrl, method: "password", username: user, password: passwords[user], projectName: project });
      const dir = join(tenantsDir, user);
      writeDockerConfig(dir, { token: issued.token, tenantId: issued.projectId, tls: { caFile } });
      writeDockerContext(dir, endpoint, caFile);
      return { user, project, projectId: issued.projectId, expiresAt: issued.expiresAt };
    }),
  );
}

/** A docker context (the CLI's own store format) for the proxy with its CA, made current in config.json. */
function writeDockerContext(configDir: string, endpoint: string, caFile: string): void {
  const id = createHash("sha256").update(CONTEXT).digest("hex");
  const meta = join(configDir, "contexts", "meta", id);
  const tls = join(configDir, "contexts", "tls", id, "docker");
  mkdirSync(meta, { recursive: true });
  mkdirSync(tls, { recursive: true });
  const context = { Name: CONTEXT, Metadata: { Description: "the berth tenant proxy" }, Endpoints: { docker: { Host: endpoint, SkipTLSVerify: false } } };
  writeFileSync(join(meta, "meta.json"), JSON.stringify(context));
  writeFileSync(join(tls, "ca.pem"), readFileSync(caFile));
  const configPath = join(configDir, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  writeFileSync(configPath, `${JSON.stringify({ ...config, currentContext: CONTEXT }, null, "\t")}\n`, { mode: 0o600 });
}

/** ssh_config for `ssh -F .local/ssh/config <host>`: the manager directly, the others through it. */
export function sshConfig(hosts: ClusterHost[], privateKey: string, knownHosts: string): string {
  const manager = hosts.find((host) => host.role === "manager")!;
  return hosts
    .map((host) =>
      [
        `Host ${host.name}`,
        `  HostName ${host.address}`,
        `  Port ${SSH_PORT}`,
        "  User root",
        `  IdentityFile ${privateKey}`,
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile ${knownHosts}`,
        "  StrictHostKeyChecking yes",
        ...(host === manager ? [] : [`  ProxyJump ${manager.name}`]),
        "",
      ].join("\n"),
    )
    .join("\n");
}
