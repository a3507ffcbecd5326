/**
 * The VMs' systemd units and drop-ins, read as systemd reads them: what each service may write and
 * what it waits for, derived from the same role plans the program renders (issue 10, "The VMs as
 * provisioned"). The rules come from systemd 252 (Debian 12): systemd.exec(5) for ProtectSystem= and
 * ReadWritePaths=, systemd.unit(5) for RequiresMountsFor=, systemd.mount(5) for `nofail`, and
 * systemd.service(5) for Restart=; the units they amend are Debian 12's own (nfs-kernel-server
 * 1:2.6.2-4+deb12u1's nfs-server.service, etcd-server 3.4's etcd.service).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cloudInitFor, NFS_SHARES, PATHS, type RolePlan } from "../../infra/roles.ts";
import { renderWaitForSsh } from "../../infra/render.ts";
import { parse as parseYaml } from "yaml";
import { parseEnvironmentFile } from "../../infra/environment-file.ts";
import { parseExports } from "./exports-syntax.ts";
import { CLUSTER, examplePlans, exampleManagerPlan } from "./plans.ts";
import { DEFAULT_NETWORK_MTU, effectiveMtu } from "../../infra/net.ts";
import { parseConfig } from "../../infra/config.ts";
import { exampleValues, parseOptions, rawConfig } from "./fixtures.ts";

const plans = examplePlans();
const scratch = mkdtempSync(join(tmpdir(), "berth-vm-units-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fileOf(plan: RolePlan, path: string): string {
  const file = plan.files.find((candidate) => candidate.path === path);
  if (!file) throw new Error(`${plan.role} has no ${path}`);
  return file.content;
}

/** The values of `key=` in one section of a unit file (space-separated lists split). */
function directive(unit: string, section: string, key: string): string[] {
  const values: string[] = [];
  let current = "";
  for (const line of unit.split("\n")) {
    const header = /^\[(.+)\]$/.exec(line.trim());
    if (header) current = header[1]!;
    else if (current === section && line.startsWith(`${key}=`))
      values.push(
        ...line
          .slice(key.length + 1)
          .trim()
          .split(/\s+/)
          .filter(Boolean),
      );
  }
  return values;
}

const under = (path: string, root: string) => path === root || path.startsWith(`${root.replace(/\/$/, "")}/`);

/**
 * systemd-analyze verify of a unit with its drop-in, as systemd would load them: the unit file (a
 * stand-in with the real unit's name when the package is not on this machine) and `<unit>.d/` beside it.
 */
function verifyWithDropIn(unitName: string, unit: string, dropInName: string, dropIn: string): string {
  const dir = mkdtempSync(join(scratch, "units-"));
  writeFileSync(join(dir, unitName), unit);
  mkdirSync(join(dir, `${unitName}.d`));
  writeFileSync(join(dir, `${unitName}.d`, dropInName), dropIn);
  const result = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, unitName)], { encoding: "utf8" });
  const ours = result.stderr.split("\n").filter((line) => line.includes(unitName) || line.includes(dropInName));
  return [result.status === 0 ? "" : `exit ${result.status}`, ...ours].filter(Boolean).join("\n");
}

describe("the tenant proxy's unit", () => {
  // issue 10: ProtectSystem=strict "mounts the entire file system hierarchy read-only, except for
  // /dev, /proc and /sys" (systemd.exec(5)); without ReadWritePaths= every named-volume create
  // failed on the VMs, where the proxy makes a directory per volume under BERTH_VOLUME_ROOT.
  const WRITABLE_SETTINGS = ["BERTH_VOLUME_ROOT"];
  for (const osd of [false, true]) {
    it(`lets the proxy write every path its settings name as writable (${osd ? "osd" : "nfs"} volumes)`, () => {
      const plan = exampleManagerPlan({ osd });
      const env = parseEnvironmentFile(fileOf(plan, PATHS.proxyEnv));
      const unit = fileOf(plan, PATHS.proxyUnit);
      expect(directive(unit, "Service", "ProtectSystem")).toEqual(["strict"]);
      const writable = directive(unit, "Service", "ReadWritePaths");
      const needed = WRITABLE_SETTINGS.flatMap((name) => (env[name] === undefined ? [] : [env[name]!]));
      expect(needed.length).toBe(osd ? 0 : 1);
      for (const path of needed)
        expect(
          writable.some((root) => under(path, root)),
          `${path} is writable to the proxy`,
        ).toBe(true);
      // And nothing else: the sandbox stays as tight as the settings allow.
      expect(writable).toEqual(needed);
    });
  }
  it("starts only once the volume root's file system is mounted", () => {
    const plan = exampleManagerPlan({ osd: false });
    const env = parseEnvironmentFile(fileOf(plan, PATHS.proxyEnv));
    expect(directive(fileOf(plan, PATHS.proxyUnit), "Unit", "RequiresMountsFor")).toEqual([env.BERTH_VOLUME_ROOT]);
  });
});

describe("the NFS server exports nothing until its data volume is mounted", () => {
  const nfs = plans.nfs!;
  const dropIn = () => fileOf(nfs, PATHS.nfsServerDropIn);
  // issue 10: /etc/fstab mounts the data volume and the exported bind mounts with `nofail`, and
  // systemd.mount(5) says a nofail mount is only wanted, not required, by local-fs.target and not
  // ordered before it; Debian's nfs-server.service is ordered only After=local-fs.target. So nfsd
  // could export the root disk's empty directories. RequiresMountsFor= (systemd.unit(5)) adds
  // Requires= and After= on the mount units of each path.
  it("nfs-server.service requires the mounts of the data volume and of every exported directory", () => {
    const required = directive(dropIn(), "Unit", "RequiresMountsFor");
    const exported = parseExports(fileOf(nfs, PATHS.exports)).map((entry) => entry.path);
    expect(exported.length).toBe(NFS_SHARES.length);
    for (const path of [...exported, PATHS.nfsData]) expect(required, path).toContain(path);
  });
  it("the drop-in is where systemd looks for nfs-server.service's drop-ins, and first boot reloads before restarting nfsd", () => {
    expect(PATHS.nfsServerDropIn).toMatch(/^\/etc\/systemd\/system\/nfs-server\.service\.d\/[^/]+\.conf$/);
    expect(nfs.runcmd.indexOf("systemctl daemon-reload")).toBeGreaterThan(-1);
    expect(nfs.runcmd.indexOf("systemctl daemon-reload")).toBeLessThan(nfs.runcmd.indexOf("systemctl restart nfs-server.service"));
  });
  it("passes systemd-analyze verify with (a stand-in of) Debian's nfs-server.service", () => {
    const standIn =
      "[Unit]\nDescription=NFS server\nAfter=network-online.target local-fs.target\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n";
    expect(verifyWithDropIn("nfs-server.service", standIn, "berth-mounts.conf", dropIn())).toBe("");
  });
});

describe("etcd waits for its address and comes back after a failure", () => {
  const etcd = plans.etcd!;
  const dropIn = () => fileOf(etcd, PATHS.etcdDropIn);
  // issue 10: Debian 12's etcd.service has After=network.target and Restart=on-abnormal; etcd bound
  // to the private address exits with status 1 ("cannot assign requested address") when it starts
  // before the address is up, and on-abnormal does not restart on an exit status (systemd.service(5)).
  it("is ordered after network-online.target, which it also wants", () => {
    expect(directive(dropIn(), "Unit", "After")).toContain("network-online.target");
    expect(directive(dropIn(), "Unit", "Wants")).toContain("network-online.target");
  });
  it("restarts on failure, not only on-abnormal", () => {
    expect(directive(dropIn(), "Service", "Restart")).toEqual(["on-failure"]);
    expect(Number(directive(dropIn(), "Service", "RestartSec")[0])).toBeGreaterThan(0);
  });
  it("a change to the drop-in restarts etcd", () => {
    expect(etcd.files.find((file) => file.path === PATHS.etcdDropIn)?.restarts).toEqual(["etcd.service"]);
  });
  it("passes systemd-analyze verify with Debian's etcd.service", () => {
    const debian =
      "[Unit]\nDescription=etcd\nAfter=network.target\nWants=network-online.target\n[Service]\nType=notify\nExecStart=/usr/bin/etcd $DAEMON_ARGS\nRestart=on-abnormal\n";
    expect(verifyWithDropIn("etcd.service", debian, "berth-restart.conf", dropIn())).toBe("");
  });
});

describe("the VMs' network MTU (issue 10: docker's networks must fit in Neutron's)", () => {
  it("is the stack's berth:network.mtu, else Neutron's mtu attribute, else Geneve's 1442", () => {
    expect(effectiveMtu(1400, 1450)).toBe(1400);
    expect(effectiveMtu(undefined, 1450)).toBe(1450);
    // The provider reports 0 or nothing without Neutron's net-mtu extension.
    expect(effectiveMtu(undefined, 0)).toBe(DEFAULT_NETWORK_MTU);
    expect(effectiveMtu(undefined, undefined)).toBe(1442);
  });
  it("berth:network.mtu is read for a new and for an existing network, and refused outside 1280-9000", () => {
    const parse = (network: Record<string, unknown>) => parseConfig(rawConfig({ ...exampleValues(), network }), parseOptions);
    expect(parse({ cidr: "10.42.0.0/24", mtu: 1450 }).network.mtu).toBe(1450);
    expect(parse({ networkId: "n", subnetId: "s", mtu: 1442 }).network.mtu).toBe(1442);
    expect(() => parse({ mtu: 1500000 })).toThrow(/berth:network\.mtu/);
  });
  it("reaches the engines' DOCKER_OPTS and the proxy's BERTH_NETWORK_MTU", () => {
    const node = parseEnvironmentFile(fileOf(plans.node!, PATHS.dockerDefaults));
    expect(node.DOCKER_OPTS).toContain(`--mtu=${CLUSTER.mtu}`);
    expect(parseEnvironmentFile(fileOf(plans.manager!, PATHS.proxyEnv)).BERTH_NETWORK_MTU).toBe(String(CLUSTER.mtu));
  });
});

describe("SSH host keys on the VMs (issue 10)", () => {
  const hostKey = {
    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheVm\n",
  };
  it("cloud-init gets the host key as its ssh module reads it (ssh_keys ed25519_private/ed25519_public)", () => {
    const document = parseYaml(cloudInitFor(plans.etcd!, hostKey)) as Record<string, any>;
    expect(document.ssh_deletekeys).toBe(true);
    expect(document.ssh_keys).toEqual({ ed25519_private: hostKey.privateKey, ed25519_public: hostKey.publicKey.trim() });
    expect(parseYaml(cloudInitFor(plans.etcd!)).ssh_keys).toBeUndefined();
  });
  it("refuses anything but an Ed25519 key line (the wait on the bastion and the pin compare that type)", () => {
    expect(() => cloudInitFor(plans.etcd!, { ...hostKey, publicKey: "ssh-rsa AAAAB3Nza x" })).toThrow(/ssh-ed25519/);
    expect(() => renderWaitForSsh({ address: "10.42.0.11", hostKey: "ssh-rsa AAAAB3Nza", timeoutSeconds: 5 })).toThrow(/ssh-ed25519/);
  });
  it("the bastion's wait for a VM's sshd is valid bash and looks for exactly the pinned key", () => {
    const script = renderWaitForSsh({ address: "10.42.0.11", hostKey: hostKey.publicKey, timeoutSeconds: 5 });
    expect(spawnSync("bash", ["-n"], { input: script }).status).toBe(0);
    expect(script).toContain("ssh-keyscan -T 5 -t ed25519 10.42.0.11");
    expect(script).toContain('" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheVm"');
  });
});

describe("adding a node from the CLI (issue 10)", () => {
  // `pulumi config set --help` (pulumi 3): with --path, "true" and "false" are booleans, integers
  // numbers, "All other values are treated as strings": '{}' is stored as the text "{}".
  const withNode = (node: unknown) => {
    const values = exampleValues();
    (values.nodes as Record<string, unknown>)["docker-host-4"] = node;
    return () => parseConfig(rawConfig(values), parseOptions);
  };
  it("the documented form, one key set with --path, makes a node with every default", () => {
    expect(withNode({ floatingIp: false })().nodes.map((node) => node.name)).toContain("docker-host-4");
  });
  it("the text '{}' is refused with the form that works", () => {
    expect(withNode("{}")).toThrow(/berth:nodes\.docker-host-4: .*pulumi config set --path 'berth:nodes\.docker-host-4\.floatingIp' false/);
  });
});
