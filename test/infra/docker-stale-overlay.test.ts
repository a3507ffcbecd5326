/**
 * The nodes' stale overlay endpoint clean-up (templates/docker-stale-overlay.py, docker.service's
 * ExecStartPre) on stores in libnetwork's layout: what it removes, what it keeps, and that it
 * leaves alone a file it does not understand. Its stores are written by its own bolt writer, large
 * enough to need branch pages; that real dockerd reads what it rewrites is proven by
 * test/scripts/node-reboot.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { PATHS } from "../../infra/roles.ts";
import { examplePlans } from "./plans.ts";

const script = examplePlans().node!.files.find((file) => file.path === PATHS.dockerStaleOverlay)!.content;
const scratch = mkdtempSync(join(tmpdir(), "berth-stale-overlay-"));
const scriptPath = join(scratch, "berth-docker-stale-overlay");
writeFileSync(scriptPath, script, { mode: 0o755 });
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const KEEP_NETWORK = "aaaaaaaaaa11111111111111111111111111111111111111111111111111111111";
const GONE_NETWORK = "bbbbbbbbbb22222222222222222222222222222222222222222222222222222222";

function python(code: string, ...args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync("/usr/bin/python3", ["-c", code, scriptPath, ...args], { encoding: "utf8" });
  return { status: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
}

const LOAD = `
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader("stale", sys.argv[1])
spec = importlib.util.spec_from_loader("stale", loader)
stale = importlib.util.module_from_spec(spec)
loader.exec_module(stale)
`;

/** libnetwork's bucket: 300 other records (several leaf pages under a branch), an overlay endpoint on each network. */
function writeStore(path: string): void {
  const written = python(
    `${LOAD}
record = lambda body: (7).to_bytes(8, "little") + json.dumps(body).encode()
records = [(b"docker/network/v1.0/network/%064d" % index, record({"name": "net%d" % index, "pad": "x" * 200})) for index in range(300)]
for nid, eid in ((sys.argv[3], "e1"), (sys.argv[4], "e2")):
    records.append((b"docker/network/v1.0/overlay/endpoint/" + eid.encode() + b"/", record({"id": eid, "nid": nid})))
records.sort()
open(sys.argv[2], "wb").write(stale.Writer(4096).database(41, 0, [(b"libnetwork", 9, records)]))
`,
    path,
    KEEP_NETWORK,
    GONE_NETWORK,
  );
  expect(written.stderr).toBe("");
}

function keys(path: string): string[] {
  const read = python(
    `${LOAD}\nfor name, sequence, records in stale.read_store(open(sys.argv[2], "rb").read())[3]:\n    for key, value in records: print(name.decode(), sequence, key.decode())`,
    path,
  );
  expect(read.stderr).toBe("");
  return read.stdout.trim().split("\n");
}

function clean(root: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(scriptPath, ["--data-root", join(root, "data"), "--exec-root", join(root, "exec")], { encoding: "utf8" });
  return { status: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
}

describe("the stale overlay endpoint clean-up", () => {
  let root: string;
  let store: string;
  let sandbox: string;
  beforeEach(() => {
    root = mkdtempSync(join(scratch, "node-"));
    store = join(root, "data", "network", "files", "local-kv.db");
    mkdirSync(join(root, "data", "network", "files"), { recursive: true });
    mkdirSync(join(root, "exec", "netns"), { recursive: true });
    // The sandbox of the network whose endpoint survives: a live network namespace, mounted where dockerd mounts it.
    sandbox = join(root, "exec", "netns", `1-${KEEP_NETWORK.slice(0, 10)}`);
    writeFileSync(sandbox, "");
    expect(spawnSync("unshare", [`--net=${sandbox}`, "true"]).status).toBe(0);
    writeStore(store);
  });
  afterEach(() => {
    spawnSync("umount", [sandbox]);
  });

  it("parses with python3", () => {
    expect(spawnSync("/usr/bin/python3", ["-m", "py_compile", scriptPath]).status).toBe(0);
  });

  it("removes the endpoint whose sandbox is gone, keeps every other record, the bucket's sequence and a copy of the original", () => {
    const before = keys(store);
    const original = readFileSync(store);
    const result = clean(root);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/removed 1 stale overlay endpoint record\(s\) from .*local-kv\.db/);
    expect(keys(store)).toEqual(before.filter((line) => !line.endsWith("overlay/endpoint/e2/")));
    expect(keys(store)).toContain("libnetwork 9 docker/network/v1.0/overlay/endpoint/e1/");
    expect(readFileSync(`${store}.before-berth-clean`).equals(original)).toBe(true);
    expect(clean(root).stdout).toMatch(/no stale overlay endpoint/);
  });

  it("removes every overlay endpoint after a boot (no sandbox mounted), and nothing else", () => {
    spawnSync("umount", [sandbox]);
    expect(clean(root).stdout).toMatch(/removed 2 stale/);
    expect(keys(store).filter((line) => line.includes("overlay/endpoint"))).toEqual([]);
    expect(keys(store)).toHaveLength(300);
  });

  it("does nothing without a store, and leaves a file it cannot read as it is (exit 1, the engine still starts)", () => {
    rmSync(store);
    expect(clean(root)).toMatchObject({ status: 0, stdout: expect.stringMatching(/no local store/) });
    writeFileSync(store, Buffer.alloc(8192, 1));
    const result = clean(root);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/left the local store as it is: no valid bolt meta page/);
    expect(readFileSync(store).equals(Buffer.alloc(8192, 1))).toBe(true);
  });
});
