/**
 * The local cloud's tenants, as the local cluster makes them (scripts/local-cluster/outputs.ts):
 * the transcript's projects and users in the cloud's Keystone, a docker config dir per user with
 * a project-scoped token and the stack's CA, and an env file with `berth_user`, all under the
 * state folder. The nodes get busybox:latest as the local cluster's engines do: the machines have
 * no route to a registry.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Keystone, writeBusyboxRootfs } from "../harness/index.ts";
import { TENANTS } from "../local-cluster/layout.ts";
import { createTenants, envFile, writeTenantConfigs, type TenantToken } from "../local-cluster/outputs.ts";
import { makePasswords, readPasswords } from "../local-cluster/secrets.ts";
import { inMachine, leaderOf, type CloudLayout } from "./machines.ts";

export const tenantsDir = (layout: CloudLayout) => join(layout.stateDir, "tenants");
export const cloudEnvFile = (layout: CloudLayout) => join(layout.stateDir, "env");
const DOCKERD_WAIT_MS = 180_000;
const passwordsFile = (layout: CloudLayout) => join(layout.stateDir, "passwords.json");

/**
 * Projects and users once, when Keystone was started by this run (`started`); tokens, config dirs
 * and the env file on every run, so they point at the proxy the stack exports.
 */
export async function tenantsUp(layout: CloudLayout, keystone: { url: string; started?: Keystone }, endpoint: string, caFile: string): Promise<TenantToken[]> {
  if (keystone.started || !existsSync(passwordsFile(layout))) {
    if (!keystone.started) throw new Error(`the cloud's Keystone runs but ${passwordsFile(layout)} is gone: \`npm run cloud:down\` first`);
    await createTenants(
      keystone.started,
      makePasswords(
        passwordsFile(layout),
        TENANTS.flatMap((tenant) => [...tenant.users]),
      ),
    );
  }
  const tokens = await writeTenantConfigs(tenantsDir(layout), `${keystone.url}/v3`, readPasswords(passwordsFile(layout)), endpoint, caFile);
  writeFileSync(cloudEnvFile(layout), envFile(tenantsDir(layout), endpoint));
  return tokens;
}

/**
 * busybox:latest in each node's engine that lacks it, imported through the machine's own docker
 * CLI. A node booted again by this `up` (after a power-off) runs no command, so its dockerd may
 * still be starting: wait for it, as the engine's clients would.
 */
export async function importBusybox(layout: CloudLayout, nodeNames: string[]): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "berth-cloud-busybox-"));
  try {
    const tarball = join(work, "rootfs.tar");
    writeBusyboxRootfs(join(work, "rootfs"), tarball);
    for (const name of nodeNames) {
      const leader = leaderOf(layout, name);
      if (!leader) throw new Error(`${name} is not running`);
      const deadline = Date.now() + DOCKERD_WAIT_MS;
      while (inMachine(layout, name, "docker info") === undefined) {
        if (Date.now() > deadline) throw new Error(`dockerd on ${name} did not answer within ${DOCKERD_WAIT_MS / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
      if (inMachine(layout, name, "docker image inspect busybox:latest") !== undefined) continue;
      // The image's tarball on stdin: the one command that needs more than inMachine gives.
      execFileSync("nsenter", ["-t", String(leader), "-a", "docker", "import", "--change", 'CMD ["sh"]', "-", "busybox:latest"], {
        input: readFileSync(tarball),
        stdio: ["pipe", "ignore", "pipe"],
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
