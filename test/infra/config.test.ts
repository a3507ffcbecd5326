/**
 * Stack configuration: what a good stack file becomes, and the error each bad one gets (naming its
 * key and saying what is expected).
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, type RawConfig } from "../../infra/config.ts";
import { exampleValues, parseOptions, rawConfig } from "./fixtures.ts";

function problems(raw: RawConfig): string[] {
  try {
    parseConfig(raw, parseOptions);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((issue) => `${issue.key}: ${issue.message}`);
    throw error;
  }
  throw new Error("the configuration was accepted");
}

const withValues = (changes: Record<string, unknown>) => rawConfig({ ...exampleValues(), ...changes });
const withProxy = (changes: Record<string, unknown>) => withValues({ proxy: { ...(exampleValues().proxy as object), ...changes } });
const without = (key: string) => {
  const values = exampleValues();
  delete values[key];
  return rawConfig(values);
};

describe("a good stack file", () => {
  it("becomes a typed configuration with the defaults filled in", () => {
    const config = parseConfig(rawConfig(), parseOptions);
    expect(config.namePrefix).toBe("berth-test");
    expect(config.nodes.map((node) => [node.name, node.flavor])).toEqual([
      ["docker-host-1", "m1.small"],
      ["docker-host-2", "m1.small"],
      ["docker-host-3", "m1.large"],
    ]);
    expect(config.manager).toEqual({ flavor: "m1.small", image: "debian-12-genericcloud-amd64", volumeSize: 0, floatingIp: true });
    expect(config.etcd.floatingIp).toBe(false);
    expect(config.nfs.dataVolumeSize).toBe(100);
    expect(config.network).toMatchObject({ kind: "new", cidr: { text: "10.42.0.0/16" }, dnsServers: ["192.0.2.53"] });
    expect(config.access.containers.map((cidr) => cidr.text)).toEqual(["0.0.0.0/0"]);
    expect(config.sshKey).toEqual({ kind: "generate" });
    expect(config.dockerVersion).toBe("20.10.*");
    expect(config.proxy).toMatchObject({ port: 2376, authBackend: "keystone", multiTenant: true, networkAuthorization: true, dnsNames: [] });
    expect(config.proxy.bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
  it("lists the nodes by name, whatever order the file has them in", () => {
    const values = exampleValues();
    values.nodes = { zeta: {}, alpha: {}, "docker-host-9": {} };
    expect(parseConfig(rawConfig(values), parseOptions).nodes.map((node) => node.name)).toEqual(["alpha", "docker-host-9", "zeta"]);
  });
  it("accepts FDCS's spelling of the auth backend", () => {
    expect(parseConfig(withProxy({ authBackend: "Keystone" }), parseOptions).proxy.authBackend).toBe("keystone");
  });
  it("takes the credentials from OS_* variables when openstack:cloud is not set", () => {
    expect(() => parseConfig(rawConfig(exampleValues(), { openstackCloud: undefined, env: { OS_AUTH_URL: "https://keystone.example:5000/v3" } }), parseOptions)).not.toThrow();
  });
  it("uses the SSH agent for an imported key without a private key", () => {
    const config = parseConfig(rawConfig({ ...exampleValues(), publicKey: "ssh-ed25519 AAAAC3Nza operator" }, { env: { SSH_AUTH_SOCK: "/run/user/1000/ssh-agent" } }), parseOptions);
    expect(config.sshKey).toEqual({ kind: "import", publicKey: "ssh-ed25519 AAAAC3Nza operator", agentSocket: "/run/user/1000/ssh-agent" });
  });
  it("opens SSH and the proxy to the whole internet only when told to", () => {
    const config = parseConfig(withValues({ proxyAllowedCidrs: ["0.0.0.0/0", "::/0"], allowWholeInternet: true }), parseOptions);
    expect(config.access.proxy.map((cidr) => cidr.text)).toEqual(["0.0.0.0/0", "::/0"]);
  });
});

describe("a bad stack file is refused with an error that names the key", () => {
  it.each<[string, RawConfig, RegExp]>([
    ["no credentials", rawConfig(exampleValues(), { openstackCloud: undefined }), /^openstack:cloud: no OpenStack credentials/],
    ["no SSH ranges", without("sshAllowedCidrs"), /^berth:sshAllowedCidrs: expected a list of CIDRs/],
    ["an empty list of SSH ranges", withValues({ sshAllowedCidrs: [] }), /^berth:sshAllowedCidrs: required: list at least one CIDR \(there is no open default\)/],
    ["no proxy ranges", without("proxyAllowedCidrs"), /^berth:proxyAllowedCidrs: expected a list of CIDRs/],
    ["SSH open to the world", withValues({ sshAllowedCidrs: ["0.0.0.0/0"] }), /^berth:sshAllowedCidrs: 0\.0\.0\.0\/0 opens SSH to the whole internet.*berth:allowWholeInternet/],
    ["the proxy open to the IPv6 world", withValues({ proxyAllowedCidrs: ["::/0"] }), /^berth:proxyAllowedCidrs: ::\/0 opens the tenant proxy to the whole internet/],
    ["a CIDR that is not one", withValues({ sshAllowedCidrs: ["198.51.100.7"] }), /^berth:sshAllowedCidrs\.0: "198\.51\.100\.7" is not a CIDR/],
    ["no nodes", without("nodes"), /^berth:nodes: required: a map of docker nodes by name/],
    ["an empty node map", withValues({ nodes: {} }), /^berth:nodes: required: at least one docker node/],
    ["a node name that is no hostname", withValues({ nodes: { Docker_Host: {} } }), /^berth:nodes\.Docker_Host: a node name is a lowercase DNS label/],
    ["a node named like another VM", withValues({ nodes: { etcd: {} } }), /^berth:nodes\.etcd: "etcd" is the name of the etcd VM/],
    ["a misspelt node setting", withValues({ nodes: { "docker-host-1": { flavour: "m1.small" } } }), /^berth:nodes\.docker-host-1: Unrecognized key: "flavour"/],
    ["no flavor anywhere", without("flavor"), /^berth:manager\.flavor: required: a flavor for this VM \(or set berth:flavor for all of them\)/],
    ["a negative volume size", withValues({ volumeSize: -1 }), /^berth:volumeSize: /],
    ["a fixed address outside the subnet", withValues({ nodes: { "docker-host-1": { fixedIp: "10.43.0.5" } } }), /^berth:nodes\.docker-host-1\.fixedIp: 10\.43\.0\.5 is not inside the private subnet 10\.42\.0\.0\/16/],
    ["two nodes on one address", withValues({ nodes: { a: { fixedIp: "10.42.0.5" }, b: { fixedIp: "10.42.0.5" } } }), /^berth:nodes\.b\.fixedIp: 10\.42\.0\.5 is already asked for by a/],
    ["the gateway as a node's address", withValues({ nodes: { a: { fixedIp: "10.42.0.1" } } }), /^berth:nodes\.a\.fixedIp: 10\.42\.0\.1 is the gateway/],
    ["an existing network without its subnet", withValues({ network: { networkId: "n" } }), /^berth:network\.subnetId: expected the existing subnet's id/],
    ["a network that is neither new nor existing", withValues({ network: "private" }), /^berth:network: expected \{cidr, dnsServers\} for a new network, or \{networkId, subnetId\}/],
    ["a private network too small", withValues({ network: { cidr: "10.42.0.0/30" } }), /^berth:network\.cidr: expected an IPv4 CIDR of at least 8 addresses/],
    ["a private network inside the engines' container pool", withValues({ network: { cidr: "172.22.5.0/24" } }), /^berth:containerAddressPool: 172\.20\.0\.0\/14 overlaps the private network 172\.22\.5\.0\/24/],
    ["a container pool narrower than one container network", withValues({ containerAddressPool: "172.20.0.0/25" }), /^berth:containerAddressPool: expected an IPv4 CIDR between \/8 and \/24/],
    ["no external network", without("externalNetwork"), /^berth:externalNetwork: expected the name of the external \(floating IP\) network/],
    ["a floating IP setting on the manager", withValues({ manager: { floatingIp: false } }), /^berth:manager: Unrecognized key: "floatingIp"/],
    ["an unknown key", withValues({ nodeCount: 3 }), /^berth:nodeCount: unknown key \(known keys: .*nodes/],
    ["a Docker that lost --cluster-store", withValues({ dockerVersion: "24.0.*" }), /^berth:dockerVersion: Docker 23 removed --cluster-store/],
    ["a private key in plain text", withValues({ publicKey: "ssh-ed25519 AAAAC3Nza operator", sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }), /^berth:sshPrivateKey: stored in plain text: set it with `pulumi config set --secret/],
    ["a private key without its public key", rawConfig({ ...exampleValues(), sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }, { secretKeys: new Set(["sshPrivateKey"]) }), /^berth:sshPrivateKey: given without berth:publicKey/],
    ["an imported key and no way to use it", withValues({ publicKey: "ssh-ed25519 AAAAC3Nza operator" }), /^berth:sshPrivateKey: berth:publicKey is imported, so `pulumi up` needs its private key/],
    ["a public key that is not one", withValues({ publicKey: "not a key" }), /^berth:publicKey: expected an OpenSSH public key line/],
    ["no proxy settings", without("proxy"), /^berth:proxy: required: the tenant proxy's settings/],
    ["Keystone without its URL", withProxy({ keystoneUrl: undefined }), /^berth:proxy\.keystoneUrl: required with the keystone backend/],
    ["Keystone v2.0", withProxy({ keystoneUrl: "http://cloud.lab.fi-ware.org:4730/v2.0/" }), /^berth:proxy\.keystoneUrl: Keystone v2\.0 no longer exists/],
    ["an unknown auth backend", withProxy({ authBackend: "ldap" }), /^berth:proxy\.authBackend: expected keystone or none/],
    ["no authentication on a world-open proxy", withValues({ allowWholeInternet: true, proxyAllowedCidrs: ["0.0.0.0/0"], proxy: { bundle: "/tmp/berth-test-bundle.cjs", authBackend: "none" } }), /^berth:proxy\.authBackend: none lets anyone who reaches the proxy use every engine/],
    ["flavors without a default", withProxy({ flavors: { medium: { Memory: 128 } } }), /^berth:proxy\.flavors: the flavors need a "default" entry/],
    ["a flavor with a size that is not one", withProxy({ flavors: { default: { Memory: "64m" } } }), /^berth:proxy\.flavors\.default\.Memory: /],
    ["a quota without memory", withProxy({ quota: { Containers: 5 } }), /^berth:proxy\.quota\.Memory: expected megabytes per tenant/],
    ["an API filter with a bad operation", withProxy({ apiFilter: { disableapi: ["network create"] } }), /^berth:proxy\.apiFilter\.disableapi\.0: expected FDCS operation names/],
    ["a tenant id that is not one", withProxy({ adminTenantId: "admin_project" }), /^berth:proxy\.adminTenantId: expected an OpenStack project id/],
    ["the proxy on the engines' port", withProxy({ port: 2375 }), /^berth:proxy\.port: 2375 is taken by the engines/],
    ["a missing proxy bundle", withProxy({ bundle: "tenant-proxy/dist/berth-proxy.cjs" }), /^berth:proxy\.bundle: tenant-proxy\/dist\/berth-proxy\.cjs does not exist: run `npm run build` first/],
  ])("%s", (_what, raw, expected) => {
    const found = problems(raw);
    expect(found.some((problem) => expected.test(problem)), `got:\n${found.join("\n")}`).toBe(true);
  });

  it("lists every problem at once", () => {
    const found = problems(withValues({ sshAllowedCidrs: ["0.0.0.0/0"], dockerVersion: "27.0", nodes: { etcd: {} } }));
    expect(found).toHaveLength(3);
  });
  it("says which stack it is and lists each problem on its own line", () => {
    expect(() => parseConfig(without("externalNetwork"), parseOptions)).toThrow(/^the stack configuration is not valid:\n {2}berth:externalNetwork: /);
  });
});
