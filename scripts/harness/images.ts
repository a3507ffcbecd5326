/**
 * There is no Docker Hub here, so the test image is made on the spot from Debian's busybox-static:
 * one static binary plus a symlink per applet (sh, sleep, echo, cat, wget, nc, ping, ...), imported
 * with `docker import` as a two-megabyte single-layer image. Global setup builds it once per run on
 * a short-lived engine, saves it as a tarball that every later engine loads in a fraction of a
 * second, and pushes it to the run's registry twice: as `:latest` and as `:other`, which differs in
 * a label only (outside the proxy's reserved `berth.` prefix), so a test can prove a pull really happened (the engine does not have `:other`).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CommandResult, succeeded } from "./commands.ts";

/**
 * What building and importing images needs of an engine (engine.ts's Engine has it): said here,
 * since engine.ts loads the tarball made here and importing Engine back would tie the two in a circle.
 */
interface ImageEngine {
  name: string;
  docker(args: string[], opts: { timeoutMs: number }): Promise<CommandResult>;
}

export const TEST_IMAGE = "berth-test/busybox:latest";
/**
 * TEST_IMAGE plus Debian's iputils ping: busybox's ping needs a raw socket (NET_RAW, which the
 * proxy drops), iputils' also works with an unprivileged ICMP socket, as most distributions' ping.
 */
export const PING_IMAGE = "berth-test/iputils-ping:latest";
const REGISTRY_REPOSITORY = "berth-test/busybox";
const BUSYBOX = "/bin/busybox";
const ARTIFACTS = fileURLToPath(new URL("./.artifacts/", import.meta.url));
const TEST_IMAGE_TAR = join(ARTIFACTS, "berth-test-busybox.tar");

/** The `docker save` tarball of TEST_IMAGE that global setup built for this run. */
export async function testImageTar(): Promise<string> {
  if (!existsSync(TEST_IMAGE_TAR)) throw new Error(`${TEST_IMAGE_TAR} is missing: it is built by test/global-setup.ts`);
  return TEST_IMAGE_TAR;
}

/** Builds TEST_IMAGE on `engine`, saves its tarball and fills the registry at `registryAddress`. */
export async function buildTestImages(engine: ImageEngine, registryAddress: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const work = mkdtempSync(join(ARTIFACTS, "build-"));
  try {
    const rootfsTar = join(work, "rootfs.tar");
    writeBusyboxRootfs(join(work, "rootfs"), rootfsTar);
    const pushed = `${registryAddress}/${REGISTRY_REPOSITORY}`;
    await dockerChecked(engine, ["import", "--change", 'CMD ["sh"]', rootfsTar, TEST_IMAGE]);
    await dockerChecked(engine, ["import", "--change", 'CMD ["sh"]', "--change", "LABEL org.berth-test.variant=other", rootfsTar, `${pushed}:other`]);
    await dockerChecked(engine, ["tag", TEST_IMAGE, `${pushed}:latest`]);
    const saved = join(work, "image.tar");
    await Promise.all([
      dockerChecked(engine, ["save", "-o", saved, TEST_IMAGE]),
      dockerChecked(engine, ["push", `${pushed}:latest`]),
      dockerChecked(engine, ["push", `${pushed}:other`]),
    ]);
    renameSync(saved, TEST_IMAGE_TAR); // atomic: a concurrent run's engines never load half a file
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A busybox root filesystem (one static binary, a symlink per applet) as a tarball for `docker import`. */
export function writeBusyboxRootfs(rootfs: string, tarball: string): void {
  for (const dir of ["bin", "etc", "root", "tmp"]) mkdirSync(join(rootfs, dir), { recursive: true });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(rootfs, "bin", "busybox"));
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" })
    .split("\n")
    .filter((name) => name && name !== "busybox");
  for (const applet of applets) symlinkSync("busybox", join(rootfs, "bin", applet));
  execFileSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-cf", tarball, "-C", rootfs, "."]);
}

/** Imports PING_IMAGE on `engine` (about a second): busybox, /usr/bin/ping and the libraries it loads. */
export async function importPingImage(engine: ImageEngine): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const work = mkdtempSync(join(ARTIFACTS, "ping-"));
  try {
    const rootfs = join(work, "rootfs");
    const tarball = join(work, "rootfs.tar");
    writeBusyboxRootfs(rootfs, tarball);
    const libraries = execFileSync("ldd", ["/usr/bin/ping"], { encoding: "utf8" }).match(/\/\S+/g) ?? [];
    for (const file of ["/usr/bin/ping", ...libraries]) {
      mkdirSync(join(rootfs, dirname(file)), { recursive: true });
      copyFileSync(file, join(rootfs, file));
    }
    execFileSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-cf", tarball, "-C", rootfs, "."]);
    await dockerChecked(engine, ["import", "--change", 'CMD ["sh"]', tarball, PING_IMAGE]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function dockerChecked(engine: ImageEngine, args: string[]): Promise<void> {
  succeeded(await engine.docker(args, { timeoutMs: 120_000 }), `docker ${args.join(" ")} on ${engine.name}`);
}
