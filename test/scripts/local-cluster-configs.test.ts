/**
 * The render-to-local-config path of the local cluster: the files infra/render.ts renders for the
 * VMs, turned into dockerd's argv, etcd's environment, nfs-ganesha's configuration and the proxy's
 * environment, and the security-group table as iptables rules. The inputs are the real rendered
 * files, so a template change that the conversions do not understand fails here, not at
 * `npm run cluster:up`.
 */
import { describe, expect, it } from "vitest";
import { renderDockerDefaults, renderEtcdDefaults, renderExports, renderProxyEnv } from "../../infra/render.ts";
import { EXPORT_OPTIONS, NFS_SHARES } from "../../infra/roles.ts";
import { dockerdArgs, etcdEnvironment, ganeshaConfig, parseExports, shellAssignments, sshdConfig } from "../../scripts/local-cluster/configs.ts";
import { tokensNeedRenewal } from "../../scripts/local-cluster/cluster.ts";
import { securityGroupCommands } from "../../scripts/local-cluster/firewall.ts";
import { clusterLayout, HOSTS, hostsCidr, netnsName, runIndex } from "../../scripts/local-cluster/layout.ts";

const dockerDefaults = renderDockerDefaults({
  hostname: "docker-host-1",
  nodeAddress: "10.212.0.11",
  enginePort: 2375,
  clusterStore: { etcdAddress: "10.212.0.14", etcdPort: 2379 },
  addressPool: "172.20.0.0/14",
  mtu: 1500,
});
const engine = { dir: "/s/docker-host-1", socketPath: "/s/docker-host-1/docker.sock", configFile: "/s/docker-host-1/daemon.json" };

describe("shellAssignments", () => {
  it("reads quoted and bare values and skips comments and blank lines", () => {
    expect(shellAssignments('# comment\n\nA="x y"\nB=plain\n')).toEqual({ A: "x y", B: "plain" });
  });

  it("refuses what a shell would expand or a line it cannot read", () => {
    expect(() => shellAssignments('A="$(id)"')).toThrow(/cannot read the line/);
    expect(() => shellAssignments("export A=1")).toThrow(/cannot read the line/);
    expect(() => shellAssignments("A=x y")).toThrow(/cannot read the line/);
  });
});

describe("dockerdArgs", () => {
  it("keeps every rendered DOCKER_OPTS flag in order and adds only the local paths and socket", () => {
    const args = dockerdArgs(dockerDefaults, engine);
    expect(args.slice(0, 16)).toEqual([
      "-H",
      "tcp://10.212.0.11:2375",
      "--tls=false",
      "--icc=false",
      "--userland-proxy=false",
      "--cluster-store=etcd://10.212.0.14:2379",
      "--cluster-advertise=10.212.0.11:2375",
      "--default-address-pool",
      "base=172.20.0.0/14,size=24",
      "--log-opt",
      "max-size=10m",
      "--log-opt",
      "max-file=3",
      "--mtu=1500",
      "--data-root",
      "/s/docker-host-1/data",
    ]);
    expect(args.slice(16)).toEqual([
      "--exec-root",
      "/s/docker-host-1/exec",
      "--pidfile",
      "/s/docker-host-1/dockerd.pid",
      "--config-file",
      "/s/docker-host-1/daemon.json",
      "-H",
      "unix:///s/docker-host-1/docker.sock",
    ]);
  });

  it("adds --tls=false when the rendered options do not say it (dockerd 20.10 would sleep 15 s)", () => {
    expect(dockerdArgs('DOCKER_OPTS="-H tcp://10.0.0.1:2375"', engine)).toContain("--tls=false");
  });

  it("refuses a file without DOCKER_OPTS", () => {
    expect(() => dockerdArgs("# nothing\n", engine)).toThrow(/no DOCKER_OPTS/);
  });
});

describe("etcdEnvironment", () => {
  it("is exactly the rendered ETCD_* settings, v2 API on", () => {
    const rendered = renderEtcdDefaults({
      name: "berth-etcd",
      address: "10.212.0.14",
      clientPort: 2379,
      legacyClientPort: 4001,
      peerPort: 2380,
      clusterToken: "t",
      dataDir: "/s/etcd",
    });
    const env = etcdEnvironment(rendered);
    expect(env).toMatchObject({
      ETCD_NAME: "berth-etcd",
      ETCD_DATA_DIR: "/s/etcd",
      ETCD_ENABLE_V2: "true",
      ETCD_ADVERTISE_CLIENT_URLS: "http://10.212.0.14:2379,http://10.212.0.14:4001",
      ETCD_INITIAL_CLUSTER: "berth-etcd=http://10.212.0.14:2380",
    });
    expect(Object.keys(env).every((name) => name.startsWith("ETCD_"))).toBe(true);
  });

  it("refuses a file with no ETCD_* setting", () => {
    expect(() => etcdEnvironment("OTHER=1\n")).toThrow(/no ETCD_/);
  });
});

describe("ganeshaConfig", () => {
  const exportsText = renderExports({ clientCidr: "10.212.0.0/16", shares: NFS_SHARES.map((share) => share.path), options: EXPORT_OPTIONS });

  it("parses the rendered exports", () => {
    expect(parseExports(exportsText)).toEqual(
      NFS_SHARES.map((share) => ({ path: share.path, clients: [{ client: "10.212.0.0/16", options: EXPORT_OPTIONS }] })),
    );
  });

  it("serves each share NFSv4/TCP only, under its own path, to the rendered clients with their access and squash", () => {
    const config = ganeshaConfig(exportsText, (path) => `/local${path}`);
    expect(config).toContain("NFS_CORE_PARAM { Protocols = 4; Enable_UDP = false; Enable_RQUOTA = false; Enable_NLM = false; }");
    expect(config).toContain("NFSV4 { Graceless = true; }");
    const blocks = config.split("EXPORT {").slice(1);
    expect(blocks).toHaveLength(NFS_SHARES.length);
    NFS_SHARES.forEach((share, index) => {
      const block = blocks[index]!;
      expect(block).toContain(`Export_Id = ${index + 1};`);
      expect(block).toContain(`Path = /local${share.path};`);
      expect(block).toContain(`Pseudo = ${share.path};`);
      expect(block).toContain("Protocols = 4;");
      expect(block).toContain("Transports = TCP;");
      expect(block).toContain("Access_Type = None;");
      expect(block).toContain("CLIENT { Clients = 10.212.0.0/16; Access_Type = RW; Squash = No_Root_Squash; }");
    });
  });

  it("follows exports(5) defaults (read-only, root squashed) and refuses options it cannot carry over", () => {
    expect(ganeshaConfig("/data 10.0.0.0/8(sync)\n", (path) => path)).toContain("CLIENT { Clients = 10.0.0.0/8; Access_Type = RO; Squash = Root_Squash; }");
    expect(() => ganeshaConfig("/data 10.0.0.0/8(rw,fsid=0)\n", (path) => path)).toThrow(/"fsid=0" of \/data has no nfs-ganesha equivalent/);
    expect(() => ganeshaConfig("/data\n", (path) => path)).toThrow(/expected \/path client/);
    expect(() => ganeshaConfig("# nothing\n", (path) => path)).toThrow(/export nothing/);
  });
});

describe("the proxy's environment", () => {
  it("is the rendered proxy.env, read as its systemd unit would", () => {
    const env = shellAssignments(
      renderProxyEnv({
        listen: "0.0.0.0:2376",
        nodesFile: "/s/cluster.ips",
        authBackend: "keystone",
        keystoneUrl: "http://10.212.0.10:5000/v3",
        adminTenantId: "abc123",
        multiTenant: true,
        networkAuthorization: true,
        tls: { certFile: "/s/cert.pem", keyFile: "/s/key.pem" },
        volumes: { kind: "shared-dir", root: "/s/export" },
      }),
    );
    expect(env).toMatchObject({
      BERTH_LISTEN: "0.0.0.0:2376",
      BERTH_NODES_FILE: "/s/cluster.ips",
      BERTH_AUTH_BACKEND: "keystone",
      SWARM_KEYSTONE_URL: "http://10.212.0.10:5000/v3",
      SWARM_ADMIN_TENANT_ID: "abc123",
      BERTH_TLS_CERT: "/s/cert.pem",
      BERTH_VOLUME_BACKEND: "shared-dir",
      BERTH_VOLUME_ROOT: "/s/export",
    });
  });
});

describe("sshdConfig", () => {
  it("listens on every address, as on a VM, and lets root in by key only", () => {
    const config = sshdConfig({ port: 22, hostKey: "/k", authorizedKeys: "/a", pidFile: "/p" });
    expect(config).toContain("ListenAddress 0.0.0.0:22\n");
    expect(config).toContain("PermitRootLogin prohibit-password\n");
    expect(config).toContain("PasswordAuthentication no\n");
    expect(config).toContain("AuthorizedKeysFile /a\n");
  });
});

describe("clusterLayout", () => {
  it("defaults to .local/ on 10.212.0.0/16, clear of the test runs' 10.213.0.0/16 and up", () => {
    const layout = clusterLayout({});
    expect(layout).toMatchObject({ bridge: "berth-local", subnet: "10.212.0.0/16", subnetPrefix: "10.212", netnsPrefix: "" });
    expect(layout.stateDir.endsWith("/.local/cluster")).toBe(true);
    expect(runIndex(layout)).toBe(212);
    expect(netnsName(layout, "docker-host-1")).toBe("docker-host-1");
  });

  it("moves everything with the environment, and refuses what it cannot use", () => {
    const layout = clusterLayout({
      BERTH_LOCAL_DIR: "/tmp/x",
      BERTH_CLUSTER_BRIDGE: "berth-t",
      BERTH_CLUSTER_SUBNET: "10.211.0.0/16",
      BERTH_CLUSTER_NETNS_PREFIX: "t-",
    });
    expect(layout).toMatchObject({
      localDir: "/tmp/x",
      stateDir: "/tmp/x/cluster",
      inventoryFile: "/tmp/x/inventory.json",
      bridge: "berth-t",
      subnetPrefix: "10.211",
    });
    expect(netnsName(layout, "berth-nfs")).toBe("t-berth-nfs");
    expect(() => clusterLayout({ BERTH_CLUSTER_SUBNET: "192.168.0.0/24" })).toThrow(/BERTH_CLUSTER_SUBNET/);
    expect(() => clusterLayout({ BERTH_CLUSTER_BRIDGE: "a-very-long-bridge-name" })).toThrow(/BERTH_CLUSTER_BRIDGE/);
  });

  it("gives the node firewall a private network of the hosts alone: the operator's .0.1 stays outside it", () => {
    const layout = clusterLayout({ BERTH_CLUSTER_SUBNET: "10.211.0.0/16" });
    expect(hostsCidr(layout)).toBe("10.211.0.8/29");
    // .0.8/29 is .0.8 to .0.15; the hosts are .0.10 and up, in HOSTS order.
    expect(10 + HOSTS.length - 1).toBeLessThanOrEqual(15);
  });
});

describe("securityGroupCommands", () => {
  const hosts = [
    { role: "manager" as const, address: "10.212.0.10" },
    { role: "node" as const, address: "10.212.0.11" },
    { role: "node" as const, address: "10.212.0.12" },
    { role: "nfs" as const, address: "10.212.0.13" },
    { role: "etcd" as const, address: "10.212.0.14" },
  ];
  const input = { hosts, operatorAddress: "10.212.0.1", proxyPort: 2376, keystonePort: 5000 };
  const admitted = (host: (typeof hosts)[number], port: string, protocol = "tcp") =>
    securityGroupCommands(host, input)
      .filter((rule) => rule.includes("ACCEPT") && rule[rule.indexOf("-p") + 1] === protocol && rule[rule.indexOf("--dport") + 1] === port)
      .map((rule) => rule[rule.indexOf("-s") + 1]);

  it("admits the engine API from the manager only, and drops everything else that reaches eth0", () => {
    const rules = securityGroupCommands(hosts[1]!, input);
    expect(admitted(hosts[1]!, "2375")).toEqual(["10.212.0.10/32"]);
    expect(rules[0]).toEqual(["-A", "INPUT", "-i", "eth0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]);
    expect(rules.at(-1)).toEqual(["-A", "INPUT", "-i", "eth0", "-m", "comment", "--comment", "berth security group: everything else", "-j", "DROP"]);
  });

  it("expands group sources to the group's hosts: etcd and overlay from the nodes, SSH to the others from the bastion", () => {
    expect(admitted(hosts[4]!, "2379")).toEqual(["10.212.0.11/32", "10.212.0.12/32"]);
    expect(admitted(hosts[1]!, "4789", "udp")).toEqual(["10.212.0.11/32", "10.212.0.12/32"]);
    expect(admitted(hosts[3]!, "22")).toEqual(["10.212.0.10/32"]);
    expect(admitted(hosts[3]!, "2049")).toEqual(["10.212.0.11/32", "10.212.0.12/32", "10.212.0.10/32"]);
  });

  it("lets the operator (the root namespace) reach the manager's SSH, proxy and Keystone", () => {
    expect(admitted(hosts[0]!, "22")).toEqual(["10.212.0.1/32"]);
    expect(admitted(hosts[0]!, "2376")).toEqual(["10.212.0.1/32"]);
    expect(admitted(hosts[0]!, "5000")).toEqual(["10.212.0.1/32"]);
  });
});

describe("tokensNeedRenewal", () => {
  const now = Date.parse("2026-11-25T12:00:00Z");
  it("renews when a token expires within a day, or its expiry cannot be read", () => {
    expect(tokensNeedRenewal([{ expiresAt: "2026-12-02T12:00:00.000000Z" }], now)).toBe(false);
    expect(tokensNeedRenewal([{ expiresAt: "2026-12-02T12:00:00Z" }, { expiresAt: "2026-11-26T11:00:00Z" }], now)).toBe(true);
    expect(tokensNeedRenewal([{ expiresAt: "soon" }], now)).toBe(true);
  });
});
