/**
 * The local cloud's hypervisor side: the bridge, the package cache, and one systemd-nspawn machine
 * per server the program declares (scripts/README.md, "What a machine needs that a VM has", lists
 * the measured facts these steps follow).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FIREWALL_CHAIN } from "./firewall.ts";
import type { Machine } from "./graph.ts";
import { baseReleaseOf, type BaseRelease } from "./images.ts";
import { renderSeed } from "./seed.ts";

const HERE = fileURLToPath(new URL("./", import.meta.url));

export interface CloudLayout {
  bridge: string;
  /** The host's address on the bridge (the machines' gateway, package cache and Keystone), with the subnet's prefix. */
  hostAddress: string;
  prefix: number;
  /** The host's address on the floating range. */
  floatingHostAddress: string;
  floatingPrefix: number;
  stateDir: string;
  cacheDir: string;
}

export function cloudLayout(): CloudLayout {
  return {
    bridge: process.env.BERTH_CLOUD_BRIDGE ?? "brcloud",
    hostAddress: "10.95.0.1",
    prefix: 24,
    floatingHostAddress: "10.95.200.1",
    floatingPrefix: 24,
    stateDir: process.env.BERTH_CLOUD_DIR ?? "/var/tmp/berth-cloud",
    cacheDir: process.env.BERTH_CLOUD_CACHE ?? "/var/cache/berth",
  };
}

const APT_CACHE_PORT = 3142;
const sh = (command: string, args: string[]) => execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const quietly = (command: string, args: string[]) => {
  try {
    return sh(command, args);
  } catch {
    return undefined;
  }
};
const alive = (pid: number | undefined) => pid !== undefined && existsSync(`/proc/${pid}`);
const pidIn = (file: string) => (existsSync(file) ? Number(readFileSync(file, "utf8").trim()) || undefined : undefined);

/** Builds a release's base image unless it is cached (base-image.sh); its folder. */
export function baseImage(layout: CloudLayout, release: BaseRelease): string {
  execFileSync("bash", [join(HERE, "base-image.sh"), release], { stdio: "inherit", env: { ...process.env, BERTH_CLOUD_CACHE: layout.cacheDir } });
  return baseImageDir(layout, release);
}

const baseImageDir = (layout: CloudLayout, release: BaseRelease) => join(layout.cacheDir, `base-${release}`);

/** The bridge with the host's two addresses, and bridged traffic allowed (br_netfilter sends it through FORWARD). */
export function bridgeUp(layout: CloudLayout): void {
  if (!existsSync(`/sys/class/net/${layout.bridge}`)) sh("ip", ["link", "add", layout.bridge, "type", "bridge"]);
  for (const address of [`${layout.hostAddress}/${layout.prefix}`, `${layout.floatingHostAddress}/${layout.floatingPrefix}`]) {
    if (!sh("ip", ["-o", "addr", "show", "dev", layout.bridge]).includes(` ${address} `)) sh("ip", ["addr", "add", address, "dev", layout.bridge]);
  }
  sh("ip", ["link", "set", layout.bridge, "up"]);
  const rule = ["FORWARD", "-i", layout.bridge, "-o", layout.bridge, "-j", "ACCEPT"];
  if (quietly("iptables", ["-C", ...rule]) === undefined) sh("iptables", ["-I", ...rule]);
}

export function bridgeDown(layout: CloudLayout): void {
  quietly("iptables", ["-D", "FORWARD", "-i", layout.bridge, "-o", layout.bridge, "-j", "ACCEPT"]);
  if (existsSync(`/sys/class/net/${layout.bridge}`)) sh("ip", ["link", "del", layout.bridge]);
}

/**
 * apt-cacher-ng on the bridge: the machines' only way to Debian's mirror. Its own configuration
 * (no remapping to its default backends, which are not reachable here): it proxies what it is asked
 * for and keeps it in the cache folder, which outlives `down`.
 */
export function aptCacheUp(layout: CloudLayout): string {
  const dir = join(layout.stateDir, "apt-cacher-ng");
  const pidFile = join(dir, "pid");
  const url = `http://${layout.hostAddress}:${APT_CACHE_PORT}`;
  if (alive(pidIn(pidFile))) return url;
  const cache = join(layout.cacheDir, "apt-cacher-ng");
  mkdirSync(cache, { recursive: true });
  mkdirSync(join(dir, "log"), { recursive: true });
  writeFileSync(
    join(dir, "acng.conf"),
    [
      `CacheDir: ${cache}`,
      `LogDir: ${join(dir, "log")}`,
      "SupportDir: /usr/lib/apt-cacher-ng",
      `Port: ${APT_CACHE_PORT}`,
      `BindAddress: ${layout.hostAddress}`,
      `PidFile: ${pidFile}`,
      "ExThreshold: 4",
      "",
    ].join("\n"),
  );
  sh("/usr/sbin/apt-cacher-ng", ["-c", dir, "Foreground=0"]);
  return url;
}

export function aptCacheDown(layout: CloudLayout): void {
  const pid = pidIn(join(layout.stateDir, "apt-cacher-ng", "pid"));
  if (alive(pid)) process.kill(pid!);
}

const machineDir = (layout: CloudLayout, name: string) => join(layout.stateDir, "machines", name);
const supervisorPid = (layout: CloudLayout, name: string) => pidIn(join(machineDir(layout, name), "supervisor.pid"));

export function isRunning(layout: CloudLayout, name: string): boolean {
  return alive(supervisorPid(layout, name));
}

/** The machine's PID 1 (nspawn's child), to nsenter into. */
export function leaderOf(layout: CloudLayout, name: string): number | undefined {
  const supervisor = supervisorPid(layout, name);
  if (!alive(supervisor)) return undefined;
  const nspawn = quietly("pgrep", ["-P", String(supervisor), "-x", "systemd-nspawn"])
    ?.trim()
    .split("\n")[0];
  const leader = nspawn ? quietly("pgrep", ["-P", nspawn])?.trim().split("\n")[0] : undefined;
  return leader ? Number(leader) : undefined;
}

/** Where the NFS shares live in the local cloud: one host folder bound at the shares' paths of every machine that mounts them. */
export const sharesDir = (layout: CloudLayout) => join(layout.stateDir, "nfs-shares");

/**
 * The shares' host folder is a tmpfs: a bind of a folder on a disk shows in the machine as a mount
 * of that disk (/dev/vda), and systemd then makes the share's mount unit wait for a device unit no
 * container has (90 s, then the unit fails). A tmpfs has no device. The data lasts until `down`.
 */
export function sharesUp(layout: CloudLayout): void {
  mkdirSync(sharesDir(layout), { recursive: true });
  if (quietly("mountpoint", ["-q", sharesDir(layout)]) === undefined)
    sh("mount", ["-t", "tmpfs", "-o", "size=2g,mode=0755", "berth-cloud-shares", sharesDir(layout)]);
}

export function sharesDown(layout: CloudLayout): void {
  if (existsSync(sharesDir(layout)) && quietly("mountpoint", ["-q", sharesDir(layout)]) !== undefined) sh("umount", [sharesDir(layout)]);
}

/**
 * What the local cloud adds to every machine, as a cloud's environment would provide it: the
 * package mirror (through the cache on the bridge), and, since this kernel has no sunrpc, a tmpfs
 * where nfs-common mounts the RPC pipe file system, so that the NFS mount units (whose paths the
 * local cloud binds from host folders, see bootMachine) start instead of failing their dependency.
 */
function writeLocalCloudFiles(root: string, aptProxy: string): void {
  writeFileSync(join(root, "etc/apt/apt.conf.d/00berth-local-cloud-proxy"), `Acquire::http::Proxy "${aptProxy}";\n`);
  const dropIn = join(root, "etc/systemd/system/run-rpc_pipefs.mount.d");
  mkdirSync(dropIn, { recursive: true });
  writeFileSync(
    join(dropIn, "berth-local-cloud.conf"),
    "# berth local cloud: no sunrpc in this kernel (no NFS); a tmpfs stands in for rpc_pipefs.\n[Mount]\nWhat=tmpfs\nType=tmpfs\n",
  );
}

/**
 * Boots a machine: an overlay on the base image its server's image names (built by baseImage), its NoCloud seed (the program's user data), the
 * apt proxy, a host folder for /var/lib/docker (overlay2 cannot sit on the overlay root), and the
 * NFS substitute's folders; then the supervisor (machine.sh), which boots it again after a reboot.
 */
export function bootMachine(
  layout: CloudLayout,
  machine: Machine,
  options: { aptProxy: string; dnsServers: string[]; shares: Array<{ path: string; directory: string }> },
): void {
  if (isRunning(layout, machine.name)) return;
  const release = baseReleaseOf(machine.imageId);
  const dir = machineDir(layout, machine.name);
  const [upper, work, root, seedDir, docker] = ["upper", "work", "root", "seed", "docker"].map((part) => join(dir, part));
  for (const folder of [upper, work, root, seedDir, docker]) mkdirSync(folder!, { recursive: true });
  if (quietly("mountpoint", ["-q", root!]) === undefined) {
    sh("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${baseImageDir(layout, release)},upperdir=${upper},workdir=${work}`, root!]);
  }
  const seed = renderSeed({
    instanceId: `${machine.name}-local`,
    hostname: machine.name,
    addresses: [`${machine.address}/${layout.prefix}`, ...(machine.floatingAddress ? [`${machine.floatingAddress}/${layout.floatingPrefix}`] : [])],
    gateway: layout.hostAddress,
    dnsServers: options.dnsServers,
    userData: machine.userData,
    publicKeys: machine.publicKeys,
    release,
  });
  for (const [file, content] of Object.entries(seed)) writeFileSync(join(seedDir!, file), content);
  writeLocalCloudFiles(root!, options.aptProxy);
  const shareBinds = options.shares.flatMap((share) => {
    const hostFolder = join(sharesDir(layout), share.directory);
    mkdirSync(hostFolder, { recursive: true });
    return [`--bind=${hostFolder}:${share.path}`];
  });
  const console = openSync(join(dir, "console.log"), "a");
  const supervisor = spawn(
    "bash",
    [
      join(HERE, "machine.sh"),
      machine.name,
      root!,
      layout.bridge,
      `berth-cloud/${machine.name}`,
      `--bind-ro=${seedDir}:/var/lib/cloud/seed/nocloud`,
      `--bind=${docker}:/var/lib/docker`,
      ...shareBinds,
    ],
    { detached: true, stdio: ["ignore", console, console], env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "1" } },
  );
  writeFileSync(join(dir, "supervisor.pid"), String(supervisor.pid));
  supervisor.unref();
}

/** Runs a command in the machine as root (nsenter into its PID 1's namespaces), with no stdin so it never holds a shutdown up. */
export function inMachine(layout: CloudLayout, name: string, command: string): string | undefined {
  const leader = leaderOf(layout, name);
  if (!leader) return undefined;
  return quietly("nsenter", ["-t", String(leader), "-a", "/bin/sh", "-c", command]);
}

const cgroupOf = (hierarchy: string, name: string) => join("/sys/fs/cgroup", hierarchy, "berth-cloud", name);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every process in the machine's cgroup (the supervisor, nspawn and everything the machine runs). */
function processesOf(name: string): number[] {
  const root = cgroupOf("systemd", name);
  if (!existsSync(root)) return [];
  const found = quietly("find", [root, "-name", "cgroup.procs", "-exec", "cat", "{}", "+"]) ?? "";
  return [...new Set(found.split("\n").filter(Boolean).map(Number))];
}

/**
 * Powers a machine off as a VM is (systemd's poweroff inside: nspawn exits 0 and the supervisor
 * ends); whatever is left after 60 s is killed, found by the machine's cgroup. Then its overlay,
 * cgroups and folder go.
 */
export async function destroyMachine(layout: CloudLayout, name: string): Promise<void> {
  if (isRunning(layout, name)) {
    inMachine(layout, name, "systemctl poweroff");
    for (let waited = 0; isRunning(layout, name) && waited < 120; waited++) await sleep(500);
  }
  for (let round = 0; processesOf(name).length > 0 && round < 10; round++) {
    for (const pid of processesOf(name)) quietly("kill", ["-KILL", String(pid)]);
    await sleep(500);
  }
  const dir = machineDir(layout, name);
  const root = join(dir, "root");
  if (existsSync(root) && quietly("mountpoint", ["-q", root]) !== undefined) sh("umount", [root]);
  for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
    // Depth first: the machine's systemd made cgroups of its own inside.
    if (existsSync(cgroupOf(hierarchy, name))) quietly("find", [cgroupOf(hierarchy, name), "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"]);
  }
  rmSync(dir, { recursive: true, force: true });
}

export function machineNames(layout: CloudLayout): string[] {
  const dir = join(layout.stateDir, "machines");
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** The security groups in force: the chain (firewall.ts) filled anew, and jumped to from FORWARD and OUTPUT for the bridge. */
export function applyFirewall(layout: CloudLayout, rules: string[][]): void {
  if (quietly("iptables", ["-n", "-L", FIREWALL_CHAIN]) === undefined) sh("iptables", ["-N", FIREWALL_CHAIN]);
  sh("iptables", ["-F", FIREWALL_CHAIN]);
  for (const rule of rules) sh("iptables", ["-A", FIREWALL_CHAIN, ...rule]);
  for (const hook of firewallHooks(layout)) if (quietly("iptables", ["-C", ...hook]) === undefined) sh("iptables", ["-I", ...hook]);
}

export function removeFirewall(layout: CloudLayout): void {
  for (const hook of firewallHooks(layout)) quietly("iptables", ["-D", ...hook]);
  if (quietly("iptables", ["-n", "-L", FIREWALL_CHAIN]) !== undefined) {
    sh("iptables", ["-F", FIREWALL_CHAIN]);
    sh("iptables", ["-X", FIREWALL_CHAIN]);
  }
}

const firewallHooks = (layout: CloudLayout) => [
  ["FORWARD", "-o", layout.bridge, "-j", FIREWALL_CHAIN],
  ["OUTPUT", "-o", layout.bridge, "-j", FIREWALL_CHAIN],
];

/** Reboots a machine from inside, as an operator would (`systemctl reboot`); resolves once it is up again with sshd running. */
export async function rebootMachine(layout: CloudLayout, name: string): Promise<void> {
  const before = leaderOf(layout, name);
  if (!before) throw new Error(`${name} is not running`);
  inMachine(layout, name, "systemctl reboot");
  for (let waited = 0; waited < 240; waited++) {
    await sleep(500);
    const leader = leaderOf(layout, name);
    if (leader && leader !== before && inMachine(layout, name, "systemctl is-active ssh")?.trim() === "active") return;
  }
  throw new Error(`${name} did not come back within 2 minutes of its reboot`);
}

/** Powers a machine off (`systemctl poweroff` inside); the supervisor ends with it. `cloud:up` boots it again. */
export async function powerOffMachine(layout: CloudLayout, name: string): Promise<void> {
  inMachine(layout, name, "systemctl poweroff");
  for (let waited = 0; isRunning(layout, name) && waited < 120; waited++) await sleep(500);
  if (isRunning(layout, name)) throw new Error(`${name} did not power off within a minute`);
}

/** What of the local cloud is still on this machine (after `down`, nothing). */
export function leftovers(layout: CloudLayout): string[] {
  const left: string[] = [];
  if (existsSync(`/sys/class/net/${layout.bridge}`)) left.push(`bridge ${layout.bridge}`);
  if (quietly("iptables", ["-n", "-L", FIREWALL_CHAIN]) !== undefined) left.push(`iptables chain ${FIREWALL_CHAIN}`);
  if (quietly("iptables", ["-C", "FORWARD", "-i", layout.bridge, "-o", layout.bridge, "-j", "ACCEPT"]) !== undefined)
    left.push("the FORWARD rule for the bridge");
  for (const hierarchy of readdirSync("/sys/fs/cgroup"))
    if (existsSync(join("/sys/fs/cgroup", hierarchy, "berth-cloud"))) left.push(`cgroup ${hierarchy}/berth-cloud`);
  if (readFileSync("/proc/self/mountinfo", "utf8").includes(layout.stateDir)) left.push(`mounts under ${layout.stateDir}`);
  if (existsSync(layout.stateDir)) left.push(`folder ${layout.stateDir}`);
  if ((quietly("pgrep", ["-f", "--", `--directory=${join(layout.stateDir, "machines")}/`]) ?? "").trim())
    left.push("systemd-nspawn processes of the local cloud");
  if ((quietly("pgrep", ["-f", "--", `--http-socket ${layout.hostAddress}:`]) ?? "").trim()) left.push(`Keystone's uwsgi on ${layout.hostAddress}`);
  if ((quietly("pgrep", ["-f", `apt-cacher-ng -c ${join(layout.stateDir, "apt-cacher-ng")}`]) ?? "").trim()) left.push("the package cache's apt-cacher-ng");
  return left;
}
