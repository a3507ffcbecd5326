/**
 * smoke:connectivity run as an operator runs it, against the real local cluster (`up` in a cluster
 * of its own: folder, bridge, subnet and namespace names from this test run's number, beside any
 * developer's and the local-cluster test's): SSH through the manager as bastion into every host's
 * sshd, ping, the engines' port firewalled to the manager, the proxy over TLS, etcd and NFS. It must
 * pass there; given an inventory with a foreign CA and a node that does not exist, it must fail on
 * exactly those rows and still finish within its timeouts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Inventory } from "../../infra/inventory.ts";
import { makeTls } from "../../scripts/local-cluster/secrets.ts";
import { runCommand, type CommandResult } from "../../scripts/harness/index.ts";
import { testDir } from "../support/test-dir.ts";
import { TSX, testCluster } from "../support/local-cluster.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const own = testCluster("sc");
const { layout } = own;
const dir = testDir("sc-files");

function localCluster(command: "up" | "down"): Promise<CommandResult> {
  return own.run([command], 150_000);
}

function smokeConnectivity(inventoryFile: string, extra: string[] = []): Promise<CommandResult> {
  return runCommand(
    [TSX, join(ROOT, "scripts/smoke-connectivity.ts"), "--inventory", inventoryFile, "--ssh-key", join(layout.sshDir, "id_ed25519"), ...extra],
    {
      cwd: ROOT,
      timeoutMs: 90_000,
    },
  );
}

/** The summary table's rows, as [check, host, result]. */
function tableRows(stdout: string): string[][] {
  const table = stdout.slice(stdout.lastIndexOf("\nCHECK ") + 1).split("\n\n")[0]!;
  return table
    .split("\n")
    .slice(1)
    .map((line) => line.split(/\s{2,}/).slice(0, 3));
}

beforeAll(async () => {
  const up = await localCluster("up");
  expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
}, 180_000);

afterAll(async () => {
  await localCluster("down");
}, 60_000);

describe("smoke:connectivity against the local cluster", () => {
  it("passes every check: SSH through the bastion, ping, the engine port closed from here, TLS, etcd, NFS", async () => {
    const result = await smokeConnectivity(layout.inventoryFile);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const rows = tableRows(result.stdout);
    const count = (check: string) => rows.filter(([name, , verdict]) => name === check && verdict === "ok").length;
    expect([
      count("ssh"),
      count("ssh via bastion"),
      count("ping from manager"),
      count("engine _ping from manager"),
      count("engine port closed from here"),
      count("proxy _ping over TLS"),
      count("etcd from node"),
      count("nfs tcp/2049 from host"),
    ]).toEqual([1, 4, 4, 2, 2, 1, 2, 3]);
    expect(result.stdout).toContain("\n19 checks, all passed\n");
  }, 90_000);

  it("fails on a foreign CA and on a node that is not there, and only on those rows", async () => {
    const inventory = JSON.parse(readFileSync(layout.inventoryFile, "utf8")) as Inventory;
    const foreignCa = await makeTls(join(dir.path, "foreign-ca"), "127.0.0.1");
    const ghost = { name: "docker-host-9", privateAddress: `${layout.subnetPrefix}.0.99`, sshHostKey: inventory.nodes[0]!.sshHostKey, enginePort: 2375 };
    const broken = { ...inventory, nodes: [...inventory.nodes, ghost], ca: { ...inventory.ca, pem: readFileSync(foreignCa.caFile, "utf8") } };
    const file = join(dir.path, "broken-inventory.json");
    writeFileSync(file, JSON.stringify(broken));
    const started = Date.now();
    const result = await smokeConnectivity(file, ["--timeout", "4"]);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(result.code, result.stdout).toBe(1);
    const failed = tableRows(result.stdout)
      .filter(([, , verdict]) => verdict === "FAIL")
      .map(([check, host]) => `${check} ${host}`);
    expect(failed.sort()).toEqual(
      [
        "ssh via bastion docker-host-9",
        "ping from manager docker-host-9",
        "engine _ping from manager docker-host-9",
        "proxy _ping over TLS berth-manager",
        "etcd from node docker-host-9",
        "nfs tcp/2049 from host docker-host-9",
      ].sort(),
    );
    expect(result.stdout).toMatch(/proxy _ping over TLS \(berth-manager\): .*certificate/);
  }, 90_000);

  // issue 10: SSH host keys were not checked; the inventory's key is now the only one accepted.
  it("refuses SSH to a host that presents another key than the inventory's", async () => {
    const inventory = JSON.parse(readFileSync(layout.inventoryFile, "utf8")) as Inventory;
    const impostor = { ...inventory, nfs: { ...inventory.nfs, sshHostKey: inventory.etcd!.sshHostKey } };
    const file = join(dir.path, "impostor-inventory.json");
    writeFileSync(file, JSON.stringify(impostor));
    const result = await smokeConnectivity(file, ["--timeout", "4"]);
    expect(result.code, result.stdout).toBe(1);
    const failed = tableRows(result.stdout)
      .filter(([, , verdict]) => verdict === "FAIL")
      .map(([check, host]) => `${check} ${host}`);
    expect(failed).toContain(`ssh via bastion ${inventory.nfs.name}`);
    expect(failed.filter((row) => row.startsWith("ssh"))).toEqual([`ssh via bastion ${inventory.nfs.name}`]);
    expect(result.stdout).toMatch(/verification failed/i);
  }, 90_000);
});
