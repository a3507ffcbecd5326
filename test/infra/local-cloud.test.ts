/**
 * The local cloud's pure parts (scripts/local-cloud): what it reads out of the program's recorded
 * resources (machines, their addresses and user data, the commands in the engine's order), which
 * commands a run must run again, the NoCloud seed it gives each machine, the base image each
 * machine boots from, and which stack it runs.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { startMockCloud, type MockCloud, type RecordedResource } from "../../scripts/lib/mock-cloud.ts";
import { commandsInOrder, commandsToRun, machinesOf, rulesByGroup } from "../../scripts/local-cloud/graph.ts";
import { renderSeed } from "../../scripts/local-cloud/seed.ts";
import { firewallRules } from "../../scripts/local-cloud/firewall.ts";
import { baseReleaseOf, baseReleasesFor } from "../../scripts/local-cloud/images.ts";
import { localCloudMocks } from "../../scripts/local-cloud/cloud.ts";
import { chosenStack, stateRefusal } from "../../scripts/local-cloud/stack.ts";
import { exampleValues, parseOptions, rawConfig } from "./fixtures.ts";
import type { ParseOptions } from "../../infra/config.ts";

let cloud: MockCloud;
let declare: (values?: Record<string, unknown>, options?: ParseOptions) => Promise<RecordedResource[]>;

beforeAll(async () => {
  cloud = await startMockCloud();
  const { deployBerth } = await import("../../infra/cluster.ts");
  const { parseConfig } = await import("../../infra/config.ts");
  declare = (values = exampleValues(), options = parseOptions) => cloud.record(() => deployBerth("berth", parseConfig(rawConfig(values), options)));
}, 60_000);

const short = (urn: string) => urn.split("::").pop()!;

describe("machines from the program", () => {
  it("one per server, with its port's address, the manager's floating address, its role and user data", async () => {
    const machines = machinesOf(await declare());
    expect(machines.map((machine) => `${machine.name} ${machine.role}`).sort()).toEqual([
      "berth-test-docker-host-1 node",
      "berth-test-docker-host-2 node",
      "berth-test-docker-host-3 node",
      "berth-test-etcd etcd",
      "berth-test-manager manager",
      "berth-test-nfs nfs",
    ]);
    for (const machine of machines) {
      expect(machine.address).toMatch(/^10\.42\./);
      // The mock cloud's id for the image the server asked for (the local cloud's is the name itself).
      expect(machine.imageId).toBe("image-debian-12-genericcloud-amd64");
      expect(machine.userData).toMatch(/^#cloud-config\n/);
      expect(machine.securityGroupIds).toHaveLength(1);
      expect(machine.publicKeys).toEqual([expect.stringMatching(/^ssh-rsa /)]);
    }
    expect(machines.filter((machine) => machine.floatingAddress).map((machine) => machine.name)).toEqual(["berth-test-manager"]);
  });

  it("every security group's ingress rules, by the group's id", async () => {
    const resources = await declare();
    const rules = rulesByGroup(resources);
    const manager = machinesOf(resources).find((machine) => machine.role === "manager")!;
    const managerRules = rules.get(manager.securityGroupIds[0]!)!;
    expect(managerRules.some((rule) => rule.ports?.min === 22 && "cidr" in rule.from)).toBe(true);
  });
});

describe("commands in the engine's order", () => {
  it("waits for cloud-init's SSH first, etcd and NFS before the engines, the engines before the proxy, the health check last", async () => {
    const commands = commandsInOrder(await declare());
    const position = (name: string) => commands.findIndex((command) => command.name === name);
    const names = commands.map((command) => command.name);
    expect(names).toContain("berth-proxy-bundle");
    // The local cloud copies every CopyToRemote of the program: the map too, before the provisioning installs it.
    expect(commands[position("berth-proxy-provision-run")]!.after.map(short)).toEqual(expect.arrayContaining(["berth-proxy-bundle", "berth-proxy-bundle-map"]));
    expect(position("berth-etcd-provision-run")).toBeGreaterThan(position("berth-etcd-provision-ssh-ready"));
    for (const node of ["docker-host-1", "docker-host-2", "docker-host-3"]) {
      const run = commands[position(`berth-node-${node}-provision-run`)]!;
      expect(run.after.map(short)).toEqual(
        expect.arrayContaining(["berth-etcd-provision-run", "berth-nfs-provision-run", `berth-node-${node}-provision-ssh-ready`]),
      );
      expect(position("berth-proxy-provision-run")).toBeGreaterThan(position(run.name));
    }
    expect(commands.at(-1)!.name).toBe("berth-proxy-health");
    expect(commands[position("berth-proxy-health")]!.after.map(short)).toContain("berth-proxy-provision-run");
  });
});

describe("what a run runs again", () => {
  it("everything the first time, nothing when nothing changed", async () => {
    const first = await declare();
    const commands = commandsInOrder(first);
    expect(commandsToRun(commands, first, []).size).toBe(commands.length);
    const second = await declare();
    expect([...commandsToRun(commandsInOrder(second), second, first)]).toEqual([]);
  });

  it("a changed node template runs exactly that node's provisioning and the proxy's health check again", async () => {
    const first = await declare();
    const values = exampleValues();
    // The node's docker_gwbridge subnet comes from the pool: every node's files change, the manager's do not.
    const changed = await declare({ ...values, nodes: { ...(values.nodes as object), "docker-host-4": {} } });
    const again = [...commandsToRun(commandsInOrder(changed), changed, first)].map(short).sort();
    expect(again).toEqual([
      "berth-node-docker-host-4-provision-run",
      "berth-node-docker-host-4-provision-ssh-ready",
      "berth-proxy-health",
      "berth-proxy-provision-run",
    ]);
  });

  // A rebuild that changes only the map (esbuild writes the sources' paths relative to the map, so
  // another checkout's layout gives another map): the map is copied again (its SHA-256 is a
  // trigger of the copy, pulumi-command 1.2.1 replaces on a trigger) and the provisioning, whose
  // script holds that hash, runs again and restarts the proxy; the bundle's copy stays.
  it("a rebuilt source map alone copies the map again and runs the proxy's provisioning and health check, not the bundle's copy", async () => {
    const first = await declare();
    const newMap: ParseOptions = {
      readBundle: (path) => (path.endsWith(".map") ? Buffer.from('{"version":3,"sources":["x"],"mappings":""}\n') : parseOptions.readBundle!(path)),
    };
    const changed = await declare(exampleValues(), newMap);
    const again = [...commandsToRun(commandsInOrder(changed), changed, first)].map(short).sort();
    expect(again).toEqual(["berth-proxy-bundle-map", "berth-proxy-health", "berth-proxy-provision-run"]);
  });

  it("a changed node setting runs every node's provisioning and the health check again, nothing else", async () => {
    const first = await declare();
    const changed = await declare({ ...exampleValues(), dockerVersion: "20.10.25*" });
    const again = [...commandsToRun(commandsInOrder(changed), changed, first)].map(short).sort();
    expect(again).toEqual([
      "berth-node-docker-host-1-provision-run",
      "berth-node-docker-host-2-provision-run",
      "berth-node-docker-host-3-provision-run",
      "berth-proxy-health",
    ]);
  });

  it("a command that failed last time runs again", async () => {
    const first = await declare();
    const withoutFailed = first.filter((resource) => resource.name !== "berth-etcd-provision-run");
    expect([...commandsToRun(commandsInOrder(first), first, withoutFailed)].map(short)).toEqual(["berth-etcd-provision-run"]);
  });
});

describe("the NoCloud seed", () => {
  const input = {
    instanceId: "m-local",
    hostname: "m",
    addresses: ["10.95.0.14/24", "10.95.200.10/24"],
    gateway: "10.95.0.1",
    dnsServers: ["10.95.0.1"],
    userData: "#cloud-config\n",
    publicKeys: ["ssh-rsa AAAA"],
  };

  it("names the instance and gives host0 the port's address, the floating one beside it, the gateway and DNS", () => {
    const seed = renderSeed({ ...input, release: "bookworm" });
    expect(parseYaml(seed["meta-data"])).toEqual({ "instance-id": "m-local", "local-hostname": "m", "public-keys": ["ssh-rsa AAAA"] });
    expect(seed["user-data"]).toBe("#cloud-config\n");
    expect(parseYaml(seed["network-config"])).toEqual({
      version: 2,
      ethernets: { host0: { addresses: ["10.95.0.14/24", "10.95.200.10/24"], gateway4: "10.95.0.1", nameservers: { addresses: ["10.95.0.1"] } } },
    });
  });

  // Booted on the trixie base: gateway4 left cloud-init 25.1 "degraded done" (DEPRECATED), a route
  // "to: default" failed its init-local stage ("Address default is not a valid ip address").
  it("on Debian 13, the gateway as a route to 0.0.0.0/0, as its cloud-init takes it without a deprecation", () => {
    const config = parseYaml(renderSeed({ ...input, release: "trixie" })["network-config"]);
    expect(config.ethernets.host0).toEqual({
      addresses: ["10.95.0.14/24", "10.95.200.10/24"],
      routes: [{ to: "0.0.0.0/0", via: "10.95.0.1" }],
      nameservers: { addresses: ["10.95.0.1"] },
    });
  });
});

describe("the security groups as the machines' firewall", () => {
  it("admits replies, then what each machine's groups admit (a group source is its machines' addresses), and drops the rest", async () => {
    const resources = await declare();
    const machines = machinesOf(resources);
    const rules = firewallRules(machines, rulesByGroup(resources));
    const byName = (role: string) => machines.find((machine) => machine.role === role)!;
    const [manager, node, etcd] = [byName("manager"), byName("node"), byName("etcd")];
    const admits = (source: string, destination: string, port: number) =>
      rules.some(
        (rule) =>
          rule.includes("ACCEPT") &&
          rule[rule.indexOf("-s") + 1] === source &&
          rule[rule.indexOf("-d") + 1] === destination &&
          rule[rule.indexOf("--dport") + 1] === String(port),
      );
    expect(rules[0]).toEqual(["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]);
    // The engines' API from the manager only; etcd from the nodes.
    expect(admits(manager.address, node.address, 2375)).toBe(true);
    expect(
      rules.some(
        (rule) =>
          rule.includes("ACCEPT") &&
          rule[rule.indexOf("-d") + 1] === node.address &&
          rule.includes("2375") &&
          rule[rule.indexOf("-s") + 1] !== manager.address &&
          !rule[rule.indexOf("-s") + 1]!.startsWith(manager.floatingAddress!),
      ),
    ).toBe(false);
    expect(admits(node.address, etcd.address, 2379)).toBe(true);
    // SSH to the manager from the allowed CIDR, at both of its addresses.
    expect(admits("198.51.100.0/24", manager.address, 22)).toBe(true);
    expect(admits("198.51.100.0/24", manager.floatingAddress!, 22)).toBe(true);
    for (const machine of machines) {
      const drop = rules.findIndex((rule) => rule.includes("DROP") && rule[rule.indexOf("-d") + 1] === machine.address);
      const lastAccept = rules.findLastIndex((rule) => rule.includes("ACCEPT") && rule[rule.indexOf("-d") + 1] === machine.address);
      expect(drop).toBeGreaterThan(lastAccept);
    }
  });
});

describe("the base image a machine boots from", () => {
  it("debian-12-local boots bookworm, debian-13-local trixie", () => {
    expect(baseReleaseOf("debian-12-local")).toBe("bookworm");
    expect(baseReleaseOf("debian-13-local")).toBe("trixie");
  });

  it("any other image is refused, naming it and the images there are", () => {
    for (const image of ["debian-12", "debian-13-genericcloud-amd64", "", "constructor"]) {
      expect(() => baseReleaseOf(image)).toThrow(
        `the local cloud has no image "${image}": its images are debian-12-local (bookworm), debian-13-local (trixie)`,
      );
    }
  });

  it("each base the servers use, once: a stack on one line builds one base", () => {
    expect(baseReleasesFor(["debian-12-local", "debian-12-local"])).toEqual(["bookworm"]);
    expect(baseReleasesFor(["debian-13-local", "debian-12-local", "debian-13-local"])).toEqual(["bookworm", "trixie"]);
    expect(() => baseReleasesFor(["debian-13-local", "ubuntu"])).toThrow('no image "ubuntu"');
  });

  describe("the local cloud's image lookup", () => {
    const stateDir = mkdtempSync(join(tmpdir(), "berth-local-cloud-test-"));
    afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
    const lookUp = (name: string) =>
      localCloudMocks({ stateDir, floatingCidr: "10.95.200.0/24" }).call({
        token: "openstack:images/getImage:getImage",
        inputs: { name, mostRecent: true },
        provider: "",
      });

    it("gives a local image its name as its id, so the server's imageId names its base", () => {
      expect(lookUp("debian-13-local")).toMatchObject({ id: "debian-13-local" });
    });

    it("refuses an image the local cloud does not have, before any machine boots", () => {
      expect(() => lookUp("debian-13")).toThrow('the local cloud has no image "debian-13"');
    });
  });
});

describe("the stack the local cloud runs", () => {
  it("local-cloud unless BERTH_CLOUD_STACK names another of its stacks", () => {
    expect(chosenStack({})).toBe("local-cloud");
    expect(chosenStack({ BERTH_CLOUD_STACK: "local-cloud-current" })).toBe("local-cloud-current");
  });

  it("refuses a stack that is not the local cloud's (its network is not the cloud's bridge)", () => {
    for (const stack of ["example", "minimal", "", "local-cloud/../example", "local-cloud-"]) {
      expect(() => chosenStack({ BERTH_CLOUD_STACK: stack })).toThrow(`BERTH_CLOUD_STACK=${stack}: the local cloud runs one of its own stacks`);
    }
  });

  it("a state folder takes only its own stack's cloud: `up` of another stack is refused until `down`", () => {
    expect(stateRefusal(undefined, "local-cloud-current", "/var/tmp/berth-cloud")).toBeUndefined();
    expect(stateRefusal("local-cloud-current", "local-cloud-current", "/var/tmp/berth-cloud")).toBeUndefined();
    expect(stateRefusal("local-cloud", "local-cloud-current", "/var/tmp/berth-cloud")).toBe(
      "/var/tmp/berth-cloud holds the local cloud of stack local-cloud, not local-cloud-current: `npm run cloud:down` first (BERTH_CLOUD_STACK=local-cloud-current is not needed for it)",
    );
  });

  it("local-cloud-current is local-cloud on the current line: Debian 13's image, the line's engine, no osd plugin", () => {
    const config = (stack: string) => (parseYaml(readFileSync(`stacks/Pulumi.${stack}.yaml`, "utf8")) as { config: Record<string, unknown> }).config;
    const { "berth:image": _image, "berth:dockerVersion": _dockerVersion, ...shared } = config("local-cloud");
    expect(config("local-cloud-current")).toEqual({ ...shared, "berth:engineLine": "current", "berth:image": "debian-13-local" });
    expect(config("local-cloud-current")["berth:osdPlugin"]).toBe(false);
    expect(baseReleaseOf(config("local-cloud-current")["berth:image"] as string)).toBe("trixie");
  });
});
