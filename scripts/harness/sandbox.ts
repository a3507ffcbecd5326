/**
 * The sandbox the run's engines use (infra/sandbox.ts): `BERTH_TEST_SANDBOX=userns` or `gvisor`
 * runs every engine, and the proxies in front of them, as a stack with `berth:sandbox` set would.
 * Unset, engines run as before (runc, no remapping).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REMAP, remapUserCommands, type Sandbox, sandboxSchema } from "../../infra/sandbox.ts";
import { runCommand, succeeded } from "./commands.ts";

export function testSandbox(env: NodeJS.ProcessEnv = process.env): Sandbox {
  const raw = env.BERTH_TEST_SANDBOX;
  if (raw === undefined || raw === "") return "none";
  const parsed = sandboxSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`BERTH_TEST_SANDBOX: expected none, userns or gvisor, got "${raw}"`);
  return parsed.data;
}

const REMAP_LOCK = "/run/berth-remap-user.lock";
const remapLine = `${REMAP.user}:${REMAP.firstId}:${REMAP.count}`;
const hasRemapLine = (file: string): boolean => {
  try {
    return readFileSync(file, "utf8").split("\n").includes(remapLine);
  } catch {
    return false;
  }
};

/**
 * The remap user with the stack's range, made as a node makes it at boot, in the root the engine
 * runs in (dockerd reads that root's /etc/passwd, /etc/subuid and /etc/subgid): the machine's own
 * for 20.10 engines, the current engine root for the current line's. Nothing else reads the
 * dockremap entries; it only writes when they differ.
 */
export async function ensureRemapUser(root = "/"): Promise<void> {
  const present =
    hasRemapLine(join(root, "etc/subuid")) && hasRemapLine(join(root, "etc/subgid")) && (await runCommand(["chroot", root, "id", "-u", REMAP.user])).code === 0;
  if (present) return;
  // Under a lock: two workers rewriting the files at once could leave the line twice, and dockerd
  // refuses overlapping ranges.
  succeeded(await runCommand(["flock", REMAP_LOCK, "chroot", root, "sh", "-ec", remapUserCommands().join("\n")]), `making the remap user in ${root}`);
}
