/**
 * The tenant proxy in front of one local engine, with the FDCS transcript's demo tenants: a dockerd
 * 20.10 in its own network namespace (never the machine's own daemon), a busybox image imported from
 * Debian's busybox-static (there is no Docker Hub here), a static tokens file, one docker config dir
 * per user under .local/demo/tenants/, and the proxy on 127.0.0.1:2376. It runs in the foreground
 * and removes everything it made on Ctrl-C or SIGTERM. The full local cluster (several engines,
 * etcd, NFS, Keystone) is a later step; this is the single-engine service as tenants see it.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { $, sleep } from "zx";
import { startProxy } from "../tenant-proxy/src/main.ts";
import { readSettings } from "../tenant-proxy/src/settings.ts";

$.verbose = false;
const ROOT = fileURLToPath(new URL("../.local/demo/", import.meta.url));
const NETNS = "berth-demo";
const SOCKET = join(ROOT, "engine", "docker.sock");
const LISTEN = process.env.BERTH_LISTEN ?? "127.0.0.1:2376";
const USERS = [
  { user: "docker-user-1", tenant: "docker-tenant-1" },
  { user: "docker-user-2", tenant: "docker-tenant-2" },
  { user: "docker-user-3", tenant: "docker-tenant-2" },
  { user: "docker-admin", tenant: "docker-admin", admin: true },
];

const step = (message: string) => console.log(`==> ${message}`);

async function startEngine(): Promise<number> {
  const dir = join(ROOT, "engine");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "daemon.json"), JSON.stringify({ "deprecated-key-path": join(dir, "key.json") }));
  await $`ip netns add ${NETNS}`;
  await $`ip -n ${NETNS} link set lo up`;
  const daemon = $`nsenter --net=/var/run/netns/${NETNS} unshare --uts --mount --propagation slave sh -c ${`hostname docker-host-1 && exec /usr/sbin/dockerd --data-root ${dir}/data --exec-root ${dir}/exec --pidfile ${dir}/dockerd.pid -H unix://${SOCKET} --config-file ${dir}/daemon.json --icc=false`} > ${join(dir, "dockerd.log")} 2>&1`.nothrow();
  void daemon;
  for (let i = 0; i < 100 && !existsSync(SOCKET); i++) await sleep(100);
  await $`docker -H unix://${SOCKET} version`.quiet();
  return Number((await $`cat ${dir}/dockerd.pid`).stdout.trim());
}

async function importBusybox(): Promise<void> {
  const rootfs = join(ROOT, "rootfs");
  mkdirSync(join(rootfs, "bin"), { recursive: true });
  mkdirSync(join(rootfs, "tmp"), { recursive: true });
  await $`cp /bin/busybox ${rootfs}/bin/busybox`;
  for (const applet of (await $`/bin/busybox --list`).stdout.split("\n").filter((a) => a && a !== "busybox")) {
    symlinkSync("busybox", join(rootfs, "bin", applet));
  }
  await $`tar -C ${rootfs} -c . | docker -H unix://${SOCKET} import --change ${'CMD ["sh"]'} - busybox:latest`;
  rmSync(rootfs, { recursive: true, force: true });
}

function writeTenants(): string {
  const tokens = USERS.map((u) => ({ ...u, token: randomBytes(24).toString("hex") }));
  writeFileSync(join(ROOT, "tokens.json"), JSON.stringify(tokens, null, 2), { mode: 0o600 });
  for (const { user, tenant, token } of tokens) {
    const configDir = join(ROOT, "tenants", user);
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, "config.json"), JSON.stringify({ HttpHeaders: { "X-Auth-Token": token, "X-Auth-TenantId": tenant } }, null, 2));
  }
  return join(ROOT, "tokens.json");
}

async function tearDown(enginePid?: number): Promise<void> {
  if (enginePid) {
    await $`docker -H unix://${SOCKET} rm -f $(docker -H unix://${SOCKET} ps -aq)`.nothrow().quiet();
    const alive = () => {
      try {
        process.kill(enginePid, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (alive()) process.kill(enginePid, "SIGTERM");
    for (let i = 0; i < 100 && alive(); i++) await sleep(100);
  }
  await $`ip netns del ${NETNS}`.nothrow().quiet();
  rmSync(ROOT, { recursive: true, force: true });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the demo starts dockerd in a network namespace: run it as root");
  if ((await $`ip netns list`).stdout.split("\n").some((line) => line.split(" ")[0] === NETNS)) {
    throw new Error(`a demo is already running (network namespace ${NETNS} exists); stop it first, or remove it with: ip netns del ${NETNS}`);
  }
  if (existsSync(ROOT) && readdirSync(ROOT).length > 0) rmSync(ROOT, { recursive: true, force: true });
  mkdirSync(ROOT, { recursive: true });
  let enginePid: number | undefined;
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  const stop = async () => {
    step("stopping: proxy, engine, namespace, files");
    await proxy?.stop();
    await tearDown(enginePid);
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    step("starting dockerd 20.10 (docker-host-1) in its own network namespace");
    enginePid = await startEngine();
    step("importing busybox:latest from Debian's busybox-static");
    await importBusybox();
    step("writing demo tenants and their docker config dirs");
    const tokensFile = writeTenants();
    const settings = readSettings({ ...process.env, BERTH_LISTEN: LISTEN, BERTH_UPSTREAM: `unix://${SOCKET}`, BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokensFile });
    proxy = await startProxy(settings);
  } catch (error) {
    await proxy?.stop();
    await tearDown(enginePid);
    throw error;
  }
  const host = `tcp://${LISTEN}`;
  console.log(`
berth demo ready: the tenant proxy listens on ${host} in front of one engine.
Tenants (docker config dirs under .local/demo/tenants/):
  docker-user-1  (docker-tenant-1)
  docker-user-2  (docker-tenant-2)
  docker-user-3  (docker-tenant-2, shares with docker-user-2)
  docker-admin   (administrator: sees everything)
Try, in another shell:
  export DOCKER_HOST=${host}
  docker --config .local/demo/tenants/docker-user-1 run -d --name tenant1-loop1 busybox sh -c 'while true; do echo Hello world; sleep 1; done'
  docker --config .local/demo/tenants/docker-user-2 ps        # sees nothing of tenant 1
  docker --config .local/demo/tenants/docker-user-2 rm -f tenant1-loop1   # No such container
Audit lines (refusals) follow below. Ctrl-C stops and removes everything.
`);
}

main().catch((error) => {
  console.error(`demo failed: ${error.message}`);
  process.exit(1);
});
