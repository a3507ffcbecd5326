/**
 * Stack configuration: what a good stack file becomes, and the error each bad one gets (naming its
 * key and saying what is expected).
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, type RawConfig } from "../../infra/config.ts";
import { BUNDLE_RENAMED_PATH, BUNDLE_WITHOUT_MAP_PATH, exampleValues, parseOptions, rawConfig } from "./fixtures.ts";

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
    expect(config.etcd?.floatingIp).toBe(false);
    expect(config.nfs.dataVolumeSize).toBe(100);
    expect(config.network).toMatchObject({ kind: "new", cidr: { text: "10.42.0.0/16" }, dnsServers: ["192.0.2.53"] });
    expect(config.access.containers.map((cidr) => cidr.text)).toEqual(["0.0.0.0/0"]);
    expect(config.operatorKey).toBeUndefined();
    expect(config.dockerVersion).toBe("20.10.*");
    expect(config.proxy).toMatchObject({ port: 2376, authBackend: "keystone", multiTenant: true, networkAuthorization: true, dnsNames: [] });
    expect(config.proxy.bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
  it("runs the 20.10 line unless the stack names one, as every stack before the setting did", () => {
    const config = parseConfig(rawConfig(), parseOptions);
    expect(config.engineLine).toBe("20.10");
    expect(config.etcd).toBeDefined();
  });
  it("takes the current line's defaults: Debian 13, its docker.io 26.1, and no etcd VM", () => {
    const values = exampleValues();
    delete values.image;
    delete values.dockerVersion;
    delete values.etcd;
    const config = parseConfig(rawConfig({ ...values, engineLine: "current" }), parseOptions);
    expect(config.engineLine).toBe("current");
    expect(config.dockerVersion).toBe("26.1.*");
    expect(config.etcd).toBeUndefined();
    expect([config.manager.image, config.nfs.image, ...config.nodes.map((node) => node.image)]).toEqual(Array(2 + config.nodes.length).fill("debian-13"));
    const classic = parseConfig(rawConfig({ ...values, engineLine: "20.10" }), parseOptions);
    expect([classic.dockerVersion, classic.etcd?.image, classic.manager.image]).toEqual(["20.10.*", "debian-12", "debian-12"]);
  });
  it("keeps the stack's own image and docker.io version on the current line", () => {
    const config = parseConfig(rawConfig({ ...exampleValues(), engineLine: "current", dockerVersion: "26.1.5+dfsg1-9*", etcd: undefined }), parseOptions);
    expect([config.dockerVersion, config.manager.image]).toEqual(["26.1.5+dfsg1-9*", exampleValues().image]);
  });
  // Docker's swarm docs (docs.docker.com engine/network/drivers/overlay, "Using custom default
  // address pools"; docker/cli v26.1 `swarm init --default-addr-pool`): without a pool at init the
  // swarm takes overlays' /24s from 10.0.0.0/8, ingress first (10.0.0.0/24), and "default address
  // pools can only be configured on swarm init". 10.0.0.0/8 holds the stack's own default network.
  it("gives the current line's swarm an overlay pool clear of the stack's networks, and the 20.10 line none", () => {
    const config = parseConfig(rawConfig({ ...exampleValues(), engineLine: "current", etcd: undefined }), parseOptions);
    expect(config.overlayAddressPool?.text).toBe("10.128.0.0/12");
    const chosen = parseConfig(rawConfig({ ...exampleValues(), engineLine: "current", etcd: undefined, overlayAddressPool: "100.64.0.0/16" }), parseOptions);
    expect(chosen.overlayAddressPool?.text).toBe("100.64.0.0/16");
    expect(parseConfig(rawConfig(), parseOptions).overlayAddressPool).toBeUndefined();
  });
  it("lists the nodes by name, whatever order the file has them in", () => {
    const values = exampleValues();
    values.nodes = { zeta: {}, alpha: {}, "docker-host-9": {} };
    expect(parseConfig(rawConfig(values), parseOptions).nodes.map((node) => node.name)).toEqual(["alpha", "docker-host-9", "zeta"]);
  });
  it("accepts a quota the proxy accepts: limits without Memory, per-tenant overrides", () => {
    const quota = { Containers: 5, Cpus: 2, tenants: { "0a1b2c": { Memory: 1024 } } };
    expect(parseConfig(withProxy({ quota }), parseOptions).proxy.quota).toEqual(quota);
  });
  it("accepts no authentication for a single tenant", () => {
    expect(parseConfig(withProxy({ authBackend: "none", multiTenant: false, keystoneUrl: undefined }), parseOptions).proxy.authBackend).toBe("none");
  });
  it("takes the tenants' sandbox, none unless the stack names one", () => {
    expect(parseConfig(rawConfig(), parseOptions).sandbox).toBe("none");
    expect(parseConfig(withValues({ sandbox: "gvisor" }), parseOptions).sandbox).toBe("gvisor");
  });
  it("accepts FDCS's spelling of the auth backend", () => {
    expect(parseConfig(withProxy({ authBackend: "Keystone" }), parseOptions).proxy.authBackend).toBe("keystone");
  });
  // The proxy trims every variable and folds the auth backend's case (settings.ts, settings-table.ts):
  // what it would start with, the preview must not refuse.
  it("accepts the auth backend in any case, as the proxy does", () => {
    expect(parseConfig(withProxy({ authBackend: "KEYSTONE" }), parseOptions).proxy.authBackend).toBe("keystone");
    expect(parseConfig(withProxy({ authBackend: " None ", multiTenant: false }), parseOptions).proxy.authBackend).toBe("none");
  });
  // The proxy takes an IPv6 literal in the Keystone URL, and systemd's EnvironmentFile= reads [ and ] as themselves.
  it("accepts a Keystone URL at an IPv6 address", () => {
    expect(parseConfig(withProxy({ keystoneUrl: "https://[2001:db8::5]:5000/v3" }), parseOptions).proxy.keystoneUrl).toBe("https://[2001:db8::5]:5000/v3");
  });
  it("takes the proxy's URL and project ids without the blanks around them, as the proxy reads them", () => {
    const proxy = parseConfig(
      withProxy({ keystoneUrl: " https://keystone.example:5000/v3 ", adminTenantId: "0a1b2c ", membersTenantId: " 0a1b2d" }),
      parseOptions,
    ).proxy;
    expect([proxy.keystoneUrl, proxy.adminTenantId, proxy.membersTenantId]).toEqual(["https://keystone.example:5000/v3", "0a1b2c", "0a1b2d"]);
  });
  it("takes the credentials from OS_* variables when openstack:cloud is not set", () => {
    expect(() =>
      parseConfig(rawConfig(exampleValues(), { openstackCloud: undefined, env: { OS_AUTH_URL: "https://keystone.example:5000/v3" } }), parseOptions),
    ).not.toThrow();
  });
  it("takes the operator's public key, and needs no private key for it (provisioning uses the stack's own)", () => {
    const config = parseConfig(withValues({ publicKey: "ssh-ed25519 AAAAC3Nza operator" }), parseOptions);
    expect(config.operatorKey).toBe("ssh-ed25519 AAAAC3Nza operator");
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
    [
      "an empty list of SSH ranges",
      withValues({ sshAllowedCidrs: [] }),
      /^berth:sshAllowedCidrs: required: list at least one CIDR \(there is no open default\)/,
    ],
    ["no proxy ranges", without("proxyAllowedCidrs"), /^berth:proxyAllowedCidrs: expected a list of CIDRs/],
    [
      "SSH open to the world",
      withValues({ sshAllowedCidrs: ["0.0.0.0/0"] }),
      /^berth:sshAllowedCidrs: 0\.0\.0\.0\/0 opens SSH to the whole internet.*berth:allowWholeInternet/,
    ],
    [
      "the proxy open to the IPv6 world",
      withValues({ proxyAllowedCidrs: ["::/0"] }),
      /^berth:proxyAllowedCidrs: ::\/0 opens the tenant proxy to the whole internet/,
    ],
    ["a CIDR that is not one", withValues({ sshAllowedCidrs: ["198.51.100.7"] }), /^berth:sshAllowedCidrs\.0: "198\.51\.100\.7" is not a CIDR/],
    ["no nodes", without("nodes"), /^berth:nodes: required: a map of docker nodes by name/],
    ["an empty node map", withValues({ nodes: {} }), /^berth:nodes: required: at least one docker node/],
    ["a node name that is no hostname", withValues({ nodes: { Docker_Host: {} } }), /^berth:nodes\.Docker_Host: a node name is a lowercase DNS label/],
    ["a node named like another VM", withValues({ nodes: { etcd: {} } }), /^berth:nodes\.etcd: "etcd" is the name of the etcd VM/],
    [
      "a misspelt node setting",
      withValues({ nodes: { "docker-host-1": { flavour: "m1.small" } } }),
      /^berth:nodes\.docker-host-1: Unrecognized key: "flavour"/,
    ],
    ["no flavor anywhere", without("flavor"), /^berth:manager\.flavor: required: a flavor for this VM \(or set berth:flavor for all of them\)/],
    ["a negative volume size", withValues({ volumeSize: -1 }), /^berth:volumeSize: /],
    [
      "a fixed address outside the subnet",
      withValues({ nodes: { "docker-host-1": { fixedIp: "10.43.0.5" } } }),
      /^berth:nodes\.docker-host-1\.fixedIp: 10\.43\.0\.5 is not inside the private subnet 10\.42\.0\.0\/16/,
    ],
    [
      "two nodes on one address",
      withValues({ nodes: { a: { fixedIp: "10.42.0.5" }, b: { fixedIp: "10.42.0.5" } } }),
      /^berth:nodes\.b\.fixedIp: 10\.42\.0\.5 is already asked for by a/,
    ],
    ["the gateway as a node's address", withValues({ nodes: { a: { fixedIp: "10.42.0.1" } } }), /^berth:nodes\.a\.fixedIp: 10\.42\.0\.1 is the gateway/],
    ["an existing network without its subnet", withValues({ network: { networkId: "n" } }), /^berth:network\.subnetId: expected the existing subnet's id/],
    [
      "a network that is neither new nor existing",
      withValues({ network: "private" }),
      /^berth:network: expected \{cidr, dnsServers\} for a new network, or \{networkId, subnetId\}/,
    ],
    ["a private network too small", withValues({ network: { cidr: "10.42.0.0/30" } }), /^berth:network\.cidr: expected an IPv4 CIDR of at least 8 addresses/],
    [
      "a private network inside the engines' container pool",
      withValues({ network: { cidr: "172.22.5.0/24" } }),
      /^berth:containerAddressPool: 172\.20\.0\.0\/14 overlaps the private network 172\.22\.5\.0\/24/,
    ],
    [
      "a container pool narrower than one container network",
      withValues({ containerAddressPool: "172.20.0.0/25" }),
      /^berth:containerAddressPool: expected an IPv4 CIDR between \/8 and \/24/,
    ],
    ["no external network", without("externalNetwork"), /^berth:externalNetwork: expected the name of the external \(floating IP\) network/],
    ["a floating IP setting on the manager", withValues({ manager: { floatingIp: false } }), /^berth:manager: Unrecognized key: "floatingIp"/],
    ["an unknown key", withValues({ nodeCount: 3 }), /^berth:nodeCount: unknown key \(known keys: .*nodes/],
    ["a sandbox berth does not know", withValues({ sandbox: "kata" }), /^berth:sandbox: expected one of none, userns, gvisor/],
    // dockerd 20.10 refuses --privileged and --net=host under --userns-remap unless the container
    // asks for --userns=host (moby v20.10 daemon/daemon_unix.go verifyPlatformContainerSettings), and
    // Docker's userns-remap docs name volume drivers unaware of the mapping as incompatible: the
    // plugin's directories would belong to the node's root, not the tenants' remapped one.
    ["the OpenStorage plugin under userns", withValues({ osdPlugin: true, sandbox: "userns" }), /^berth:osdPlugin: .*userns/],
    [
      "a Docker that lost --cluster-store, on the 20.10 line",
      withValues({ dockerVersion: "24.0.*" }),
      /^berth:dockerVersion: the 20.10 line needs Docker 20.10 \(Docker 23 removed --cluster-store/,
    ],
    [
      "Docker 20.10 on the current line, which has no cluster store",
      withValues({ engineLine: "current", dockerVersion: "20.10.*" }),
      /^berth:dockerVersion: the current line needs Docker 23 or later/,
    ],
    ["an engine line berth does not know", withValues({ engineLine: "27" }), /^berth:engineLine: expected "20.10" \(Docker 20.10 on Debian 12.*or "current"/],
    // pulumi config hands a stack file's unquoted 20.10 over as YAML read it: the number 20.1.
    [
      "an unquoted 20.10, which YAML reads as 20.1",
      withValues({ engineLine: "20.1" }),
      /^berth:engineLine: got 20.1: YAML reads an unquoted 20.10 as a number; write "20.10" in quotes/,
    ],
    ["an etcd VM on the current line", withValues({ engineLine: "current", etcd: { flavor: "m1.tiny" } }), /^berth:etcd: the current line has no etcd VM/],
    [
      "the OpenStorage plugin on the current line",
      withValues({ engineLine: "current", osdPlugin: true }),
      /^berth:osdPlugin: the OpenStorage plugin keeps its state in the 20.10 line's etcd/,
    ],
    // An overlay subnet that overlaps the nodes' network (or the engines' bridges) shadows it in
    // every container attached to the overlay: the cluster's published ports and DNS out of reach.
    [
      "a swarm overlay pool that holds the private network, as Docker's default 10.0.0.0/8 would",
      withValues({ engineLine: "current", etcd: undefined, overlayAddressPool: "10.0.0.0/8" }),
      /^berth:overlayAddressPool: 10\.0\.0\.0\/8 overlaps the private network 10\.42\.0\.0\/16/,
    ],
    [
      "a private network inside the default swarm overlay pool",
      withValues({ engineLine: "current", etcd: undefined, network: { cidr: "10.130.0.0/16" } }),
      /^berth:overlayAddressPool: 10\.128\.0\.0\/12 overlaps the private network 10\.130\.0\.0\/16/,
    ],
    [
      "a swarm overlay pool inside the engines' container pool",
      withValues({ engineLine: "current", etcd: undefined, overlayAddressPool: "172.21.0.0/16" }),
      /^berth:overlayAddressPool: 172\.21\.0\.0\/16 overlaps berth:containerAddressPool 172\.20\.0\.0\/14/,
    ],
    [
      "a swarm overlay pool narrower than one overlay",
      withValues({ engineLine: "current", etcd: undefined, overlayAddressPool: "10.128.0.0/25" }),
      /^berth:overlayAddressPool: expected an IPv4 CIDR between \/8 and \/24/,
    ],
    ["a swarm overlay pool on the 20.10 line", withValues({ overlayAddressPool: "10.128.0.0/12" }), /^berth:overlayAddressPool: the 20.10 line has no swarm/],
    [
      "a private key for the imported key, no longer used",
      withValues({ publicKey: "ssh-ed25519 AAAAC3Nza operator", sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }),
      /^berth:sshPrivateKey: no longer used: `pulumi up` provisions with the stack's own key/,
    ],
    ["a public key that is not one", withValues({ publicKey: "not a key" }), /^berth:publicKey: expected an OpenSSH public key line/],
    ["no proxy settings", without("proxy"), /^berth:proxy: required: the tenant proxy's settings/],
    // From here to the API filter, the tenant proxy's own reader judges (infra/proxy-check.ts), in
    // its words, under the stack key that sets the variable.
    ["Keystone without its URL", withProxy({ keystoneUrl: undefined }), /^berth:proxy\.keystoneUrl: required with the keystone auth backend/],
    ["Keystone with a blank URL", withProxy({ keystoneUrl: "  " }), /^berth:proxy\.keystoneUrl: required with the keystone auth backend/],
    [
      "a Keystone URL that is not one",
      withProxy({ keystoneUrl: "keystone.example" }),
      /^berth:proxy\.keystoneUrl: not a URL: "keystone\.example" \(the tenant proxy would not start with this SWARM_KEYSTONE_URL\)$/,
    ],
    [
      "a Keystone URL a config file cannot hold",
      withProxy({ keystoneUrl: "https://keystone.example/v3 x" }),
      /^berth:proxy\.keystoneUrl: the manager's proxy\.env cannot hold it: keystoneUrl: /,
    ],
    // An operator told only "not safe" guesses; the refusal says which characters a value may have.
    [
      "a Keystone URL with a character the env file cannot hold",
      withProxy({ keystoneUrl: "https://kéystone.example/v3#x" }),
      /^berth:proxy\.keystoneUrl: .*may hold only letters, digits and _\.\/:@%\+=,~\*\[\]- \(no spaces, quotes, #, \$ or non-ASCII\)/,
    ],
    ["a project id with a quote", withProxy({ adminTenantId: '0a1b"2c' }), /^berth:proxy\.adminTenantId: .*may hold only letters, digits and/],
    ["Keystone v2.0", withProxy({ keystoneUrl: "http://cloud.lab.fi-ware.org:4730/v2.0/" }), /^berth:proxy\.keystoneUrl: Keystone v2\.0 no longer exists/],
    ["an unknown auth backend", withProxy({ authBackend: "ldap" }), /^berth:proxy\.authBackend: expected keystone or none/],
    [
      "no authentication on a world-open proxy",
      withValues({
        allowWholeInternet: true,
        proxyAllowedCidrs: ["0.0.0.0/0"],
        proxy: { bundle: "/tmp/berth-test-bundle.cjs", authBackend: "none", multiTenant: false },
      }),
      /^berth:proxy\.authBackend: none lets anyone who reaches the proxy use every engine/,
    ],
    ["flavors without a default", withProxy({ flavors: { medium: { Memory: 128 } } }), /^berth:proxy\.flavors: a "default" flavor is required/],
    ["a flavor with a size that is not one", withProxy({ flavors: { default: { Memory: "64m" } } }), /^berth:proxy\.flavors\.default\.Memory: /],
    // The proxy reads quota.json with its own schema (tenant-proxy/src/policy/quota.ts) and refuses
    // to start on an unknown key; the stack must refuse it at preview, not on the manager.
    ["a misspelt quota key", withProxy({ quota: { Memroy: 300 } }), /^berth:proxy\.quota: Unrecognized key: "Memroy"/],
    ["a quota that is not a number", withProxy({ quota: { Memory: "300m" } }), /^berth:proxy\.quota\.Memory: /],
    // The proxy checks apifilter.json against its operation table (tenant-proxy/src/operations.ts).
    [
      "an API filter with a bad operation",
      withProxy({ apiFilter: { disableapi: ["network create"] } }),
      /^berth:proxy\.apiFilter: unknown operation "network create"/,
    ],
    [
      "an API filter with an operation the proxy does not know",
      withProxy({ apiFilter: { disableapi: ["networkconect"] } }),
      /^berth:proxy\.apiFilter: unknown operation "networkconect"/,
    ],
    ["an API filter that disables _ping", withProxy({ apiFilter: { disableapi: ["ping"] } }), /^berth:proxy\.apiFilter: "ping" cannot be disabled/],
    // The proxy refuses BERTH_AUTH_BACKEND=none with SWARM_MULTI_TENANT=true (tenant-proxy/src/settings.ts).
    [
      "no authentication with several tenants",
      withProxy({ authBackend: "none", keystoneUrl: undefined }),
      /^berth:proxy\.authBackend: none .*berth:proxy\.multiTenant/,
    ],
    ["a tenant id that is not one", withProxy({ adminTenantId: "admin_project" }), /^berth:proxy\.adminTenantId: expected a project id/],
    // A project id of digits and one `e` (`1234e567…`) is a number to YAML unless quoted.
    [
      "a project id YAML read as a number",
      withProxy({ membersTenantId: 1.234e56 }),
      /^berth:proxy\.membersTenantId: expected an OpenStack project id.*quote it/,
    ],
    [
      "a members' project without Keystone",
      withProxy({ authBackend: "none", multiTenant: false, keystoneUrl: undefined, membersTenantId: "0a1b2c" }),
      /^berth:proxy\.membersTenantId: only works with the keystone auth backend/,
    ],
    ["the proxy on the engines' port", withProxy({ port: 2375 }), /^berth:proxy\.port: 2375 is taken by the engines/],
    [
      "a missing proxy bundle",
      withProxy({ bundle: "tenant-proxy/dist/berth-proxy.cjs" }),
      /^berth:proxy\.bundle: tenant-proxy\/dist\/berth-proxy\.cjs does not exist: run `npm run build` first/,
    ],
    [
      "a proxy bundle without its source map beside it",
      withProxy({ bundle: BUNDLE_WITHOUT_MAP_PATH }),
      /^berth:proxy\.bundle: \/tmp\/berth-test-bundle-without-map\.cjs\.map, the bundle's source map, does not exist/,
    ],
    // Node 18.20 (lib/internal/source_map/source_map_cache.js) resolves the bundle's last line,
    // `//# sourceMappingURL=<name>`, against the bundle's own path, and a map it cannot read only
    // leaves traces unmapped, silently: the manager installs the map as berth-proxy.cjs.map beside
    // /usr/local/lib/berth/berth-proxy.cjs, so the bundle must name exactly that.
    [
      "a proxy bundle whose last line names its map other than the manager installs it",
      withProxy({ bundle: BUNDLE_RENAMED_PATH }),
      /^berth:proxy\.bundle: \/tmp\/berth-proxy-1\.2\.cjs names its source map berth-proxy-1\.2\.cjs\.map, but the manager installs it as berth-proxy\.cjs\.map/,
    ],
  ])("%s", (_what, raw, expected) => {
    const found = problems(raw);
    expect(
      found.some((problem) => expected.test(problem)),
      `got:\n${found.join("\n")}`,
    ).toBe(true);
  });

  it("lists every problem at once", () => {
    const found = problems(withValues({ sshAllowedCidrs: ["0.0.0.0/0"], dockerVersion: "27.0", nodes: { etcd: {} } }));
    expect(found).toHaveLength(3);
  });
  it("lists the proxy's refusal beside the stack's own problems", () => {
    const values = exampleValues();
    const found = problems(rawConfig({ ...values, dockerVersion: "27.0", proxy: { ...(values.proxy as object), keystoneUrl: "http://k:4730/v2.0" } }));
    expect(found.map((problem) => problem.split(":")[1])).toEqual(["dockerVersion", "proxy.keystoneUrl"]);
  });
  // The proxy's check needs the node count, network MTU, osd plugin and sandbox; one of those wrong
  // must not hide the proxy's refusal of its own keys, or the operator fixes one and meets the next.
  it.each<[string, Record<string, unknown>, string]>([
    ["sandbox", { sandbox: "kata" }, "sandbox"],
    ["nodes", { nodes: {} }, "nodes"],
    ["network", { network: { cidr: "10.42.0.0/16", mtu: 100 } }, "network.mtu"],
    ["osdPlugin", { osdPlugin: "yes" }, "osdPlugin"],
  ])("lists the proxy's refusal beside a bad berth:%s", (_key, change, problemKey) => {
    const values = exampleValues();
    const found = problems(rawConfig({ ...values, ...change, proxy: { ...(values.proxy as object), keystoneUrl: "http://k:4730/v2.0" } }));
    expect(found.map((problem) => problem.split(":")[1])).toEqual([problemKey, "proxy.keystoneUrl"]);
  });
  // A wrong proxy key fails the whole berth:proxy object; the proxy's refusal of another one must still be listed.
  it("lists the proxy's refusal beside another proxy key's problem", () => {
    const found = problems(withProxy({ flavors: { medium: { Memory: 128 } }, keystoneUrl: "http://k:4730/v2.0" }));
    expect(found.map((problem) => problem.split(":")[1])).toEqual(["proxy.flavors", "proxy.keystoneUrl"]);
  });
  it("does not blame a proxy key the stack already refused for what its stand-in lacks", () => {
    const found = problems(withProxy({ keystoneUrl: 5000, membersTenantId: "0a1b2c" }));
    expect(found).toEqual([expect.stringMatching(/^berth:proxy\.keystoneUrl: expected the Keystone v3 URL/)]);
  });
  it("says which stack it is and lists each problem on its own line", () => {
    expect(() => parseConfig(without("externalNetwork"), parseOptions)).toThrow(/^the stack configuration is not valid:\n {2}berth:externalNetwork: /);
  });
});
