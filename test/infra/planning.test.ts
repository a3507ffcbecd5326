/**
 * The pure planning: address arithmetic, the security-group table's invariants, the inventory.
 */
import { describe, expect, it } from "vitest";
import { checkFixedAddresses, cidrContains, ethertype, isWholeInternet, lastSubnet, parseCidr, type Cidr } from "../../infra/net.ts";
import { securityGroupRules, GROUP_ROLES, type GroupRole, type GroupRules } from "../../infra/rules.ts";
import { CLUSTER_ONLY_PORTS } from "../../infra/ports.ts";
import { buildInventory } from "../../infra/inventory.ts";

const cidr = (text: string): Cidr => {
  const parsed = parseCidr(text);
  if (!parsed) throw new Error(`${text} is not a CIDR`);
  return parsed;
};

describe("CIDRs", () => {
  it.each([
    ["10.42.0.5/24", "10.42.0.0/24", 4],
    ["0.0.0.0/0", "0.0.0.0/0", 4],
    ["2001:db8:0:0:1::/64", "2001:db8::/64", 6],
    ["::/0", "::/0", 6],
    ["2001:db8:1:0:0:0:0:1/128", "2001:db8:1::1/128", 6],
  ])("%s is the network %s (IPv%i)", (text, normalised, version) => {
    expect(cidr(text)).toMatchObject({ text: normalised, version });
  });
  it.each(["10.42.0.5", "10.42.0.0/33", "::ffff:10.0.0.1/120", "example.org/24", "10.42.0.0/24/8"])("%j is not a CIDR", (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });
  it("knows what is inside", () => {
    expect(cidrContains(cidr("10.42.0.0/24"), "10.42.0.255")).toBe(true);
    expect(cidrContains(cidr("10.42.0.0/24"), "10.42.1.0")).toBe(false);
    expect(cidrContains(cidr("2001:db8::/32"), "2001:db8:ffff::1")).toBe(true);
    expect(cidrContains(cidr("10.0.0.0/8"), "2001:db8::1")).toBe(false);
  });
  it("finds the last subnet of a range (docker_gwbridge's, in the engines' address pool)", () => {
    expect(lastSubnet(cidr("172.20.0.0/14"), 24)).toBe("172.23.255.0/24");
    expect(lastSubnet(cidr("10.9.8.0/24"), 24)).toBe("10.9.8.0/24");
    expect(() => lastSubnet(cidr("10.9.8.0/24"), 16)).toThrow("/16 is not a subnet of 10.9.8.0/24");
  });
  it("knows the whole internet in both families, and their ethertypes", () => {
    expect([cidr("0.0.0.0/0"), cidr("::/0"), cidr("0.0.0.0/1")].map(isWholeInternet)).toEqual([true, true, false]);
    expect([cidr("0.0.0.0/0"), cidr("::/0")].map(ethertype)).toEqual(["IPv4", "IPv6"]);
  });
});

describe("fixed addresses", () => {
  const subnet = cidr("10.42.0.0/24");
  it("accepts distinct host addresses inside the subnet", () => {
    expect(
      checkFixedAddresses(subnet, [
        { name: "a", address: "10.42.0.10" },
        { name: "b", address: "10.42.0.254" },
      ]).size,
    ).toBe(0);
  });
  it("names each node whose address cannot be", () => {
    const problems = checkFixedAddresses(subnet, [
      { name: "outside", address: "10.42.1.10" },
      { name: "network", address: "10.42.0.0" },
      { name: "broadcast", address: "10.42.0.255" },
      { name: "gateway", address: "10.42.0.1" },
      { name: "first", address: "10.42.0.20" },
      { name: "second", address: "10.42.0.20" },
    ]);
    expect([...problems.keys()]).toEqual(["outside", "network", "broadcast", "gateway", "second"]);
    expect(problems.get("second")).toBe("10.42.0.20 is already asked for by first");
  });
});

describe("the security-group table", () => {
  const input = {
    sshCidrs: [cidr("198.51.100.0/24")],
    proxyCidrs: [cidr("198.51.100.0/24"), cidr("2001:db8::/48")],
    containerCidrs: [cidr("0.0.0.0/0")],
    proxyPort: 2376,
    line: "20.10" as const,
  };
  const table = securityGroupRules(input);
  const current = securityGroupRules({ ...input, line: "current" });
  const rulesOf = (groups: GroupRules, role: GroupRole) => groups[role] ?? [];

  it("opens the cluster's own ports only to the cluster's groups, never to an address range, on either line", () => {
    for (const role of GROUP_ROLES) {
      for (const rule of [...rulesOf(table, role), ...rulesOf(current, role)]) {
        const clusterPort = CLUSTER_ONLY_PORTS.find(({ port }) => rule.ports && rule.ports.min <= port && port <= rule.ports.max);
        if (clusterPort) expect("group" in rule.source, `${role} ${rule.key} opens ${clusterPort.service}`).toBe(true);
      }
    }
  });
  it("admits SSH to the other VMs only from the manager, the bastion", () => {
    for (const role of ["node", "nfs", "etcd"] as const) {
      const ssh = rulesOf(table, role).filter((rule) => rule.ports?.min === 22);
      expect(ssh.map((rule) => rule.source)).toEqual([{ group: "manager" }]);
    }
  });
  it("gives every rule a description and a key unique within its group", () => {
    for (const groups of [table, current]) {
      for (const role of GROUP_ROLES) {
        const keys = rulesOf(groups, role).map((rule) => rule.key);
        expect(new Set(keys).size, role).toBe(keys.length);
        for (const rule of rulesOf(groups, role)) expect(rule.description.length, rule.key).toBeGreaterThan(10);
      }
    }
  });
  it("has an etcd group on the 20.10 line only", () => {
    expect(Object.keys(table).sort()).toEqual(["etcd", "manager", "nfs", "node"]);
    expect(Object.keys(current).sort()).toEqual(["manager", "nfs", "node"]);
  });
  it("opens the swarm's management port (2377/tcp) on the current line's nodes, to the nodes alone; gossip and VXLAN on both lines", () => {
    const swarm = (groups: GroupRules) =>
      rulesOf(groups, "node")
        .filter((rule) => [2377, 7946, 4789].includes(rule.ports?.min ?? 0))
        .map((rule) => [rule.protocol, rule.ports?.min, rule.ports?.max, rule.source]);
    const nodes = { group: "node" };
    expect(swarm(current)).toEqual([
      ["tcp", 7946, 7946, nodes],
      ["udp", 7946, 7946, nodes],
      ["udp", 4789, 4789, nodes],
      ["tcp", 2377, 2377, nodes],
    ]);
    expect(swarm(table)).toEqual(swarm(current).slice(0, 3));
  });
  it("adding an allowed range adds rules and renames none", () => {
    const wider = securityGroupRules({ ...input, sshCidrs: [...input.sshCidrs, cidr("203.0.113.0/24")] });
    const before = new Set(rulesOf(table, "manager").map((rule) => rule.key));
    const after = rulesOf(wider, "manager").map((rule) => rule.key);
    expect(after.filter((key) => !before.has(key)).sort()).toEqual(["icmp-from-203-0-113-0-24", "ssh-tcp-from-203-0-113-0-24"]);
    expect([...before].every((key) => after.includes(key))).toBe(true);
  });
});

describe("the inventory", () => {
  const input = {
    cluster: "berth-prod",
    engineLine: "20.10" as const,
    sshUser: "debian",
    manager: { name: "berth-prod-manager", privateAddress: "10.42.0.10", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", publicAddress: "2001:db8::10" },
    nodes: [
      { name: "b", privateAddress: "10.42.0.22", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", enginePort: 2375 },
      { name: "a", privateAddress: "10.42.0.21", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", enginePort: 2375 },
    ],
    nfs: { name: "berth-prod-nfs", privateAddress: "10.42.0.12", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", shares: ["/var/lib/openstorage/nfs"] },
    etcd: { name: "berth-prod-etcd", privateAddress: "10.42.0.11", sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", clientPort: 2379 },
    proxy: { port: 2376, authBackend: "keystone" as const },
    ca: { pem: "-----BEGIN CERTIFICATE-----", managerPath: "/etc/berth/tls/ca.pem", hint: "pulumi stack output caCertificate > ca.pem" },
  };
  it("brackets an IPv6 manager address in the endpoint and sorts the nodes by name", () => {
    const inventory = buildInventory(input);
    expect(inventory.proxy.endpoint).toBe("tcp://[2001:db8::10]:2376");
    expect(inventory.proxy.url).toBe("https://[2001:db8::10]:2376");
    expect(inventory.nodes.map((node) => node.name)).toEqual(["a", "b"]);
    expect(inventory.etcd?.clientUrl).toBe("http://10.42.0.11:2379");
    expect(inventory.tenants.onboarding.startsWith("docker -H tcp://[2001:db8::10]:2376 --tlsverify --tlscacert ca.pem")).toBe(true);
  });
});
