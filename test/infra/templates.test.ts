/**
 * Every template, rendered from the role plans of a realistic cluster and compared with a reviewed
 * snapshot; then checked by the tools that will read it where this machine has them: the shells
 * (bash -n, dash -n), systemd-analyze verify, systemd-escape, a YAML parser for cloud-config, and a
 * strict exports(5) reader. The engines' and etcd's own files are proven by the real daemons in
 * test/integration/rendered-daemons.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { sandboxDockerDataRoot } from "../../infra/sandbox.ts";
import {
  mountUnitName,
  gatewayBridgeSubnet,
  renderDockerDefaults,
  renderExports,
  renderNodeFirewall,
  renderNodeFirewallUnit,
  renderProxyEnv,
  renderProxyHealthCheck,
  renderProxyUnit,
  renderSwarm,
  renderWaitCloudInit,
} from "../../infra/render.ts";
import {
  cloudInitFor,
  EXPORT_OPTIONS,
  NFS_SHARES,
  PATHS,
  swarmInput,
  swarmScriptFor,
  PROXY_PROCESS,
  provisionScriptFor,
  proxyBundleFiles,
  proxyTlsFiles,
  type RolePlan,
} from "../../infra/roles.ts";
import { parseExports } from "./exports-syntax.ts";
import { NODE18, NODE18_LIBS } from "../../scripts/lib/node18.ts";
import { CLUSTER, exampleNodePlan, examplePlans } from "./plans.ts";

const plans = examplePlans();
const scratch = mkdtempSync(join(tmpdir(), "berth-templates-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const snapshotName = (path: string) => path.replace(/^\//, "").replace(/\//g, "__");

function run(argv: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), { input, encoding: "utf8" });
  if (result.error) throw result.error;
  return { status: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
}

/** The health check of the example cluster: its engines, its Keystone and an NFS volume root. */
const healthInput = (address: string, timeoutSeconds: number) => ({
  address,
  port: 2376,
  connectTo: "127.0.0.1",
  caFile: PATHS.caCert,
  timeoutSeconds,
  unit: "berth-proxy.service",
  user: "berth",
  engines: Object.values(CLUSTER.nodes).map((node) => ({ address: node, port: 2375 })),
  keystoneUrl: "https://keystone.example:5000/v3",
  volumeRoot: "/var/lib/openstorage/nfs/berth-volumes",
});

function fileOf(plan: RolePlan, path: string): string {
  const file = plan.files.find((candidate) => candidate.path === path);
  if (!file) throw new Error(`${plan.role} has no ${path}`);
  return file.content;
}

describe("rendered files match their reviewed snapshots", () => {
  for (const [role, plan] of Object.entries(plans)) {
    for (const file of plan.files) {
      it(`${role}: ${file.path}`, async () => {
        await expect(file.content).toMatchFileSnapshot(`__snapshots__/${role}/${snapshotName(file.path)}`);
      });
    }
    it(`${role}: cloud-init user data`, async () => {
      await expect(cloudInitFor(plan)).toMatchFileSnapshot(`__snapshots__/${role}/cloud-init.yaml`);
    });
  }
  it("etcd: provisioning script", async () => {
    await expect(provisionScriptFor(plans.etcd!)).toMatchFileSnapshot("__snapshots__/etcd/provision.sh");
  });
  it("manager: proxy health check", async () => {
    const script = renderProxyHealthCheck(healthInput(CLUSTER.managerPublic, 90));
    await expect(script).toMatchFileSnapshot("__snapshots__/manager/proxy-health.sh");
  });
  it("proxy.env without the optional settings", async () => {
    const env = renderProxyEnv({
      listen: "0.0.0.0:2376",
      nodesFile: PATHS.nodesFile,
      authBackend: "none",
      multiTenant: false,
      networkAuthorization: true,
      volumes: { kind: "shared-dir", root: "/srv/volumes" },
    });
    await expect(env).toMatchFileSnapshot("__snapshots__/manager/proxy.env-minimal");
  });
});

describe("what the current engine line (berth:engineLine current) changes on a node, and its swarm", () => {
  const current = exampleNodePlan("current");
  const swarmNodes = Object.entries(CLUSTER.nodes).map(([name, address]) => ({ name, address }));
  const pool = "10.128.0.0/12";
  it("node: the files that differ and the user data", async () => {
    for (const file of current.files.filter((one) => one.content !== fileOf(plans.node!, one.path))) {
      await expect(file.content).toMatchFileSnapshot(`__snapshots__/node-current/${snapshotName(file.path)}`);
    }
    await expect(cloudInitFor(current)).toMatchFileSnapshot("__snapshots__/node-current/cloud-init.yaml");
  });
  it("swarm: the script the manager forms it with", async () => {
    await expect(renderSwarm(swarmInput(swarmNodes, pool))).toMatchFileSnapshot("__snapshots__/swarm/swarm.sh");
  });
  it("runs the engine without a cluster store, pins docker.io 26.1 and checks for 23 or later, and has no etcd anywhere", () => {
    const options = fileOf(current, PATHS.dockerDefaults);
    expect(options).toMatch(/^DOCKER_OPTS="-H tcp:\/\/10\.42\.0\.21:2375 --tls=false /m);
    expect(options).not.toMatch(/cluster-store|cluster-advertise/);
    expect(fileOf(current, PATHS.dockerAptPin)).toMatch(/^Pin: version 26\.1\.\*$/m);
    expect(current.checks.map((check) => check.description)).toContain("docker.io is 23 or later, whose swarm carries the overlay networks");
    const everything = [...current.files.map((file) => file.content), ...current.checks.map((check) => check.command), ...current.services].join("\n");
    expect(everything).not.toContain(CLUSTER.etcd);
    expect(current.services.filter((unit) => /etcd|berth-osd/.test(unit))).toEqual([]);
  });
  it("waits for cloud-init on the manager (which installs jq) before forming the swarm", () => {
    const script = swarmScriptFor(swarmNodes, pool);
    expect(script.indexOf("cloud-init status --wait")).toBeGreaterThanOrEqual(0);
    expect(script.indexOf("cloud-init status --wait")).toBeLessThan(script.indexOf("/swarm/init"));
    expect(plans.manager!.packages).toContain("jq");
  });
  it("refuses two nodes at one address, and a name or an address that would break the script", () => {
    const [first, second] = swarmNodes as [{ name: string; address: string }, { name: string; address: string }];
    expect(() => renderSwarm(swarmInput([first, { ...second, address: first.address }], pool))).toThrow(/two nodes share an address/);
    expect(() => renderSwarm(swarmInput([first, { ...second, name: "x; reboot" }], pool))).toThrow(/workers\.0\.name/);
    expect(() => renderSwarm(swarmInput([{ ...first, address: "10.42.0.21 --x" }], pool))).toThrow(/manager\.address: .* is not an IP address/);
    expect(() => swarmInput([], pool)).toThrow(/at least one node/);
  });
});

/**
 * The swarm script against a one-node engine that curl stands in for: it answers /info, /swarm and
 * /nodes as a Docker 26 engine does (moby v26.1 api/swagger.yaml: SwarmInitRequest's
 * DefaultAddrPool and SubnetSize, ClusterInfo's DefaultAddrPool) and records every request.
 */
function runSwarmAgainst(engine: { state: "inactive" | "active"; pool?: string[] }, addressPool: string) {
  const dir = mkdtempSync(join(scratch, "swarm-"));
  const curl = join(dir, "curl");
  writeFileSync(
    curl,
    `#!/bin/bash
method=GET url= data=
while (($#)); do
  case $1 in -X) method=$2; shift ;; --data-binary) data=$(jq -c .) ;; http*) url=$1 ;; esac
  shift
done
path=\${url#*/v1.41}
echo "$method $path $data" >>"${dir}/requests"
[[ -e "${dir}/initialised" ]] && state=active || state=${engine.state}
case "$method $path" in
  "GET /info") printf '{"Swarm":{"LocalNodeState":"%s","ControlAvailable":true,"NodeID":"m"}}\\n' "$state" ;;
  "POST /swarm/init") touch "${dir}/initialised"; echo '"m"' ;;
  "GET /swarm") echo '{"JoinTokens":{"Worker":"SWMTKN-1-x"},"DefaultAddrPool":${JSON.stringify(engine.pool ?? [addressPool])},"SubnetSize":24}' ;;
  "GET /nodes") echo '[{"ID":"m","Status":{"State":"ready","Addr":"10.42.0.21"}}]' ;;
  *) echo "unexpected $method $path" >&2; exit 22 ;;
esac
`,
  );
  chmodSync(curl, 0o755);
  const script = renderSwarm(swarmInput([{ name: "docker-host-1", address: "10.42.0.21" }], addressPool));
  const run = spawnSync("bash", ["-s"], { input: script, encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
  const requests = spawnSync("cat", [join(dir, "requests")], { encoding: "utf8" })
    .stdout.trim()
    .split("\n");
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, requests };
}

describe("the swarm's overlay address pool (berth:overlayAddressPool)", () => {
  // docker/cli v26.1 docs/reference/commandline/swarm_init.md: --default-addr-pool defaults to
  // 10.0.0.0/8 and --default-addr-pool-mask-length to 24, and Docker's overlay docs: "Default address
  // pools can only be configured on swarm init and cannot be altered after cluster creation."
  // No DataPathPort: 0 is VXLAN's 4789 (moby v26.1.5 daemon/cluster/listen_addr.go getDataPathPort),
  // the port the node group admits between nodes and the node firewall keeps containers from.
  it("initialises the swarm with the stack's pool in /24s, not Docker's 10.0.0.0/8", () => {
    const run = runSwarmAgainst({ state: "inactive" }, "10.128.0.0/12");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const init = run.requests.find((request) => request.startsWith("POST /swarm/init "));
    expect(JSON.parse(init!.slice("POST /swarm/init ".length))).toEqual({
      ListenAddr: "10.42.0.21:2377",
      AdvertiseAddr: "10.42.0.21:2377",
      DefaultAddrPool: ["10.128.0.0/12"],
      SubnetSize: 24,
    });
  });
  it("leaves a swarm made with the stack's pool alone", () => {
    const run = runSwarmAgainst({ state: "active" }, "10.128.0.0/12");
    expect(run.status).toBe(0);
    expect(run.requests.some((request) => request.startsWith("POST"))).toBe(false);
  });
  // A swarm made without a pool reports Docker's own, 10.0.0.0/8 in /24s (swarmkit v2 in moby
  // v26.1.5: manager/controlapi/cluster.go, inbuiltDefaultAddressPool).
  it("refuses a swarm made with another pool, which no later setting can change", () => {
    const run = runSwarmAgainst({ state: "active", pool: ["10.0.0.0/8"] }, "10.128.0.0/12");
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /docker-host-1's swarm takes overlay subnets from 10\.0\.0\.0\/8 \(\/24\), not berth:overlayAddressPool 10\.128\.0\.0\/12 \(\/24\): a swarm's pool is set only when it is made/,
    );
    expect(run.requests.some((request) => request.startsWith("POST"))).toBe(false);
  });
});

describe("what each sandbox (berth:sandbox) changes on the nodes and the manager", () => {
  for (const sandbox of ["userns", "gvisor"] as const) {
    const sandboxed = examplePlans(sandbox);
    const differs = (role: string) => sandboxed[role]!.files.filter((file) => file.content !== fileOf(plans[role]!, file.path));
    for (const role of ["node", "manager"]) {
      it(`${sandbox}, ${role}: the files that differ and the user data`, async () => {
        for (const file of differs(role)) {
          await expect(file.content).toMatchFileSnapshot(`__snapshots__/${role}-${sandbox}/${snapshotName(file.path)}`);
        }
        await expect(cloudInitFor(sandboxed[role]!)).toMatchFileSnapshot(`__snapshots__/${role}-${sandbox}/cloud-init.yaml`);
      });
    }
  }
  it("userns remaps the engine and makes its remap user at every boot, before docker", () => {
    const node = examplePlans("userns").node!;
    expect(fileOf(node, PATHS.dockerDefaults)).toMatch(/ --userns-remap=dockremap"$/m);
    expect(node.bootcmd.join("\n")).toMatch(/useradd --system .*dockremap[\s\S]*dockremap:10000000:65536 >> \/etc\/subuid/);
  });
  it("gvisor installs runsc, registers it with the engine and makes it the tenants' runtime", () => {
    const { node, manager } = examplePlans("gvisor");
    expect(node!.packages).toContain("runsc");
    expect(JSON.parse(fileOf(node!, PATHS.dockerDaemonJson))).toEqual({ runtimes: { runsc: { path: "/usr/bin/runsc", runtimeArgs: ["--network=host"] } } });
    expect(fileOf(manager!, PATHS.proxyEnv)).toMatch(/^BERTH_TENANT_RUNTIME=runsc$/m);
  });
  // dockerd 20.10 refuses to start when a directive is given both as a flag and in daemon.json
  // ("the following directives are specified both as a flag and in the configuration file": moby
  // v20.10 daemon/config/config.go findConfigurationConflicts); daemon.json's `runtimes` is the flag --add-runtime.
  it.each(["none", "userns", "gvisor"] as const)("%s: no directive is both in DOCKER_OPTS and in daemon.json", (sandbox) => {
    const node = examplePlans(sandbox).node!;
    const flags = new Set([...fileOf(node, PATHS.dockerDefaults).matchAll(/(?:^DOCKER_OPTS="| )--?([a-z-]+)/gm)].map((match) => match[1]));
    const directives = Object.keys(JSON.parse(fileOf(node, PATHS.dockerDaemonJson))).map((key) => (key === "runtimes" ? "add-runtime" : key));
    expect(flags.has("cluster-store")).toBe(true);
    expect(directives.filter((directive) => flags.has(directive))).toEqual([]);
  });
  // A running VM never reads its user data again: infra/components/host.ts ignores changes to userData,
  // and cloud-init 22.4 installs `packages` on the first boot only (cc_package_update_upgrade_install,
  // frequency once-per-instance). A stack that turns gvisor on in place gets runsc from provisioning.
  it("gvisor on a running node: provisioning installs runsc before the engine restarts with it", () => {
    const script = provisionScriptFor(examplePlans("gvisor").node!);
    const install = script.search(/apt-get install [^\n]*\brunsc\b/);
    expect(install).toBeGreaterThan(-1);
    expect(install).toBeLessThan(script.indexOf(`put ${PATHS.dockerDaemonJson} `));
  });
  // dockerd 20.10 under --userns-remap keeps its whole root, libnetwork's local store included, in
  // <data-root>/<uid>.<gid> (moby v20.10 daemon/daemon_unix.go setupDaemonRoot; the node's check reads
  // the same DockerRootDir): the clean-up before each start must read that store, not the unused one.
  it("userns: the stale overlay clean-up reads the remapped engine's own store", () => {
    expect(fileOf(examplePlans("userns").node!, PATHS.dockerStaleOverlayDropIn)).toMatch(
      /^ExecStartPre=-\S+ --data-root \/var\/lib\/docker\/10000000\.10000000$/m,
    );
    expect(fileOf(plans.node!, PATHS.dockerStaleOverlayDropIn)).toMatch(/^ExecStartPre=-\S+$/m);
  });

  it("userns: the remapped root follows the engine's own data root (the local cluster's engines have their own)", () => {
    expect(sandboxDockerDataRoot("userns", "/var/tmp/berth-local/hosts/docker-host-1/data")).toBe(
      "/var/tmp/berth-local/hosts/docker-host-1/data/10000000.10000000",
    );
    expect(sandboxDockerDataRoot("gvisor", "/var/tmp/x")).toBeUndefined();
  });
});

describe("values that would break a config file are refused", () => {
  const docker = {
    hostname: "docker-host-1",
    nodeAddress: "10.42.0.21",
    enginePort: 2375,
    clusterStore: { etcdAddress: "10.42.0.11", etcdPort: 2379 },
    addressPool: "172.20.0.0/14",
    mtu: 1450,
  };
  const firewall = {
    clusterCidr: "10.42.0.0/24",
    containerPorts: { min: 32768, max: 61000 },
    protectedAddresses: [],
    bridges: ["docker0"],
    gatewayBridgeSubnet: "172.23.255.0/24",
  };
  it.each([
    [
      "an address that is not one",
      () => renderDockerDefaults({ ...docker, clusterStore: { etcdAddress: "10.42.0.11 --debug", etcdPort: 2379 } }),
      /etcdAddress: .* is not an IP address/,
    ],
    ["a port out of range", () => renderDockerDefaults({ ...docker, enginePort: 70000 }), /enginePort: 70000 is not a port/],
    [
      "an address pool narrower than a container network",
      () => renderDockerDefaults({ ...docker, addressPool: "172.20.0.0/25" }),
      /addressPool: .* is not an IPv4 CIDR of \/24 or wider/,
    ],
    ["an MTU no network has", () => renderDockerDefaults({ ...docker, mtu: 150 }), /mtu: 150 is not an MTU/],
    [
      "a newline in a setting",
      () =>
        renderProxyEnv({
          listen: "0.0.0.0:2376\nBERTH_AUTH_BACKEND=none",
          nodesFile: "/etc/berth/nodes",
          authBackend: "keystone",
          multiTenant: true,
          networkAuthorization: true,
          volumes: { kind: "shared-dir", root: "/srv" },
        }),
      /listen: .* may hold only/,
    ],
    [
      "an NFS server that is not an address",
      () =>
        renderProxyEnv({
          listen: "0.0.0.0:2376",
          nodesFile: "/etc/berth/nodes",
          authBackend: "none",
          multiTenant: true,
          networkAuthorization: true,
          volumes: { kind: "nfs", server: "nfs;reboot", export: "/srv", root: "/srv" },
        }),
      /volumes.server: .* not an IP address/,
    ],
    [
      "a relative path",
      () =>
        renderProxyUnit({
          user: "berth",
          environmentFile: "proxy.env",
          nodeBinary: "/usr/bin/node",
          ...PROXY_PROCESS,
          bundlePath: "/usr/local/lib/berth/berth-proxy.cjs",
          writablePaths: [],
        }),
      /environmentFile: .* not an absolute path/,
    ],
    ["a quote in an export option", () => renderExports({ clientCidr: "10.42.0.0/24", shares: ["/srv"], options: ["rw'"] }), /options: .* may hold only/],
    ["a bridge name that would end the shell word", () => renderNodeFirewall({ ...firewall, bridges: ["docker0' -j ACCEPT"] }), /bridges: .* may hold only/],
    [
      "a published port range upside down",
      () => renderNodeFirewall({ ...firewall, containerPorts: { min: 61000, max: 32768 } }),
      /containerPorts: 61000 is above 32768/,
    ],
    ["a node firewall for no bridge at all", () => renderNodeFirewall({ ...firewall, bridges: [] }), /bridges: at least one/],
    [
      "an address pool too narrow for docker_gwbridge's /24",
      () => gatewayBridgeSubnet("172.20.0.0/25"),
      /addressPool: .* is not an IPv4 CIDR of \/24 or wider/,
    ],
    [
      "a docker_gwbridge subnet that would end the shell word",
      () => renderNodeFirewall({ ...firewall, gatewayBridgeSubnet: "172.23.255.0/24 -j ACCEPT" }),
      /gatewayBridgeSubnet: .* may hold only/,
    ],
  ])("%s", (_what, renderBad, message) => {
    expect(renderBad).toThrow(message);
  });
});

describe("mount unit names", () => {
  it.each(["/var/lib/openstorage/nfs", "/var/lib/osd/mounts", "/srv/with-dash/x.y", "/a//b/"])("%s is named as systemd-escape names it", (path) => {
    const expected = run(["systemd-escape", "--path", "--suffix=mount", path]).stdout.trim();
    expect(mountUnitName(path)).toBe(expected);
  });
});

describe("/etc/exports", () => {
  it("parses strictly and exports each share to the cluster's network only", () => {
    const entries = parseExports(fileOf(plans.nfs!, PATHS.exports));
    expect(entries).toEqual(NFS_SHARES.map((share) => ({ path: share.path, clients: [{ host: CLUSTER.cidr, options: EXPORT_OPTIONS }] })));
  });
  it.each([
    ["/srv 10.0.0.0/24 (rw)", /space before the options/],
    ["/srv (rw,sync)", /no client/],
    ["/srv 10.0.0.0/24(rw,ro)", /rw and ro contradict/],
    ["/srv 10.0.0.0/24(rw,no_such_option)", /unknown option "no_such_option"/],
    ["srv 10.0.0.0/24(rw)", /not an absolute path/],
    ["/srv 10.0.0.0/33(rw)", /bad prefix length/],
  ])("the checker refuses %s", (line, message) => {
    expect(() => parseExports(`${line}\n`)).toThrow(message);
  });
});

describe("cloud-init user data", () => {
  for (const [role, plan] of Object.entries(plans)) {
    it(`${role}: is cloud-config whose files are the plan's, and whose commands are valid sh`, () => {
      const text = cloudInitFor(plan);
      expect(text.startsWith("#cloud-config\n")).toBe(true);
      const document = parseYaml(text) as Record<string, any>;
      expect(document.hostname).toBe(plan.hostname);
      expect(document.packages).toEqual(plan.packages);
      expect(document.write_files).toEqual(plan.files.map((file) => ({ path: file.path, owner: file.owner, permissions: file.mode, content: file.content })));
      for (const command of [...(document.bootcmd ?? []), ...(document.runcmd ?? [])]) {
        const syntax = run(["dash", "-n"], command);
        expect(syntax.stderr, command).toBe("");
        expect(syntax.status).toBe(0);
      }
    });
  }
  it("node: provisioning applies the firewall itself and never restarts its unit, which docker requires", () => {
    const script = provisionScriptFor(plans.node!);
    expect(script).toContain(`\n${PATHS.nodeFirewall}\n`);
    expect(script).toContain(`put ${PATHS.nodeFirewall} 0755 root:root <<'BERTH_FILE'`);
    expect(script).toContain(`put ${PATHS.nodeFirewallUnit} 0644 root:root <<'BERTH_FILE'`);
  });
  // cloud-init 22.4 (cloudinit/config/cc_write_files.py, write_files): the module runs in the init
  // stage, before packages are installed and before provisioning creates the proxy's user; chown to a
  // user that does not exist yet (cloudinit/util.py chownbyname: OSError "Unknown user or group")
  // stops the module, leaving the later files unwritten. Files owned by another user (the proxy's
  // TLS key) travel by provisioning only.
  it("every file in the user data belongs to root, who exists when cloud-init writes it", () => {
    for (const [role, plan] of Object.entries(plans)) {
      const document = parseYaml(cloudInitFor(plan)) as { write_files: Array<{ path: string; owner: string }> };
      for (const file of document.write_files) expect(file.owner, `${role}: ${file.path}`).toBe("root:root");
    }
  });
  // cloud-init 25.1 (Debian 13; cloudinit/cmd/status.py): `status --wait` exits 2, "degraded", when
  // a run logged a deprecation, and provisioning's strict wait fails on 2. Each key below was checked
  // with Debian 13's `cloud-init schema -c` (25.1.4): none is deprecated, manage_etc_hosts's value
  // included (its "template" is; apt_update and apt_upgrade are, for package_update and _upgrade). A
  // new key has to be checked there before it joins this list.
  it("uses only keys Debian 13's cloud-init (25.1) takes without a deprecation", () => {
    const checked = ["hostname", "manage_etc_hosts", "ssh_deletekeys", "ssh_keys", "package_update", "packages", "bootcmd", "write_files", "runcmd"];
    const hostKey = { privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", publicKey: "ssh-ed25519 AAAA host" };
    for (const [role, plan] of [...Object.entries(plans), ["node-current", exampleNodePlan("current")] as const]) {
      const document = parseYaml(cloudInitFor(plan, hostKey)) as Record<string, unknown>;
      expect(
        Object.keys(document).filter((key) => !checked.includes(key)),
        role,
      ).toEqual([]);
      expect(document.manage_etc_hosts, role).toBe(true);
      expect(Object.keys(document.ssh_keys as object), role).toEqual(["ed25519_private", "ed25519_public"]);
    }
  });
  // node refuses a V8 flag it does not know ("bad option") and the proxy's unit would never start.
  // The manager runs Debian's nodejs: 18.19 on Debian 12 (the 20.10 line), 20.19 on Debian 13 (the
  // current line); the toolchain's Node 18 and the Node 20 running these tests stand in for them.
  it("the proxy's Node flags are ones Node 18 and Node 20 accept", () => {
    const nodes = [
      { version: /^v18\./, argv: ["env", `LD_LIBRARY_PATH=${NODE18_LIBS}`, NODE18] },
      { version: /^v20\./, argv: [process.execPath] },
    ];
    for (const { version, argv } of nodes) {
      const started = run([...argv, ...PROXY_PROCESS.nodeFlags, "-e", "process.stdout.write(process.version)"], "");
      expect(started.stderr, argv.join(" ")).toBe("");
      expect(started.stdout).toMatch(version);
    }
  });
  it("the user data never carries the proxy's TLS key", () => {
    const script = provisionScriptFor(plans.manager!, { files: proxyTlsFiles({ caCert: "CA", serverCert: "CERT", serverKey: "-----BEGIN PRIVATE KEY-----" }) });
    expect(script).toContain(Buffer.from("-----BEGIN PRIVATE KEY-----").toString("base64"));
    expect(cloudInitFor(plans.manager!)).not.toContain("PRIVATE KEY");
  });
});

describe("shell scripts parse", () => {
  for (const [role, plan] of Object.entries(plans)) {
    it(`${role}: the provisioning script (bash -n)`, () => {
      const extra =
        role === "manager"
          ? {
              files: proxyTlsFiles({ caCert: "c", serverCert: "s", serverKey: "k" }),
              staged: proxyBundleFiles({ sha256: "0".repeat(64), sourceMap: { sha256: "1".repeat(64) } }),
            }
          : {};
      const syntax = run(["bash", "-n"], provisionScriptFor(plan, extra));
      expect(syntax.stderr).toBe("");
      expect(syntax.status).toBe(0);
    });
  }
  it.each([
    ["node", PATHS.nodeFirewall],
    ["nfs", PATHS.nfsDisk],
  ])("%s: %s (dash -n, as Debian's /bin/sh)", (role, path) => {
    const syntax = run(["dash", "-n"], fileOf(plans[role]!, path));
    expect(syntax.stderr).toBe("");
    expect(syntax.status).toBe(0);
  });
  it("the proxy health check (bash -n)", () => {
    const script = renderProxyHealthCheck(healthInput("203.0.113.10", 5));
    expect(run(["bash", "-n"], script).status).toBe(0);
  });
  it("a script with a syntax error is caught", () => {
    expect(run(["bash", "-n"], renderWaitCloudInit({ timeoutSeconds: 1, logLines: 1, outputLog: "/x", resultFile: "/y" }).replace("esac", "")).status).not.toBe(
      0,
    );
  });
});

describe("the NFS server's disk script, run against stand-ins", () => {
  /** Runs the rendered script with the disk tools replaced by stand-ins that log their arguments. */
  function runDiskScript(state: { formatted: boolean; mounted: boolean }): { status: number; calls: string[]; stderr: string } {
    const dir = mkdtempSync(join(scratch, "disk-"));
    const log = join(dir, "calls");
    const standIn = (name: string, body = "exit 0") => {
      writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*" >>${log}\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    standIn("ls", "echo /dev/disk/by-id/virtio-volume-serial");
    standIn("blkid", state.formatted ? "exit 0" : "exit 2");
    standIn("mountpoint", state.mounted ? "exit 0" : "exit 1");
    for (const name of ["mkfs.ext4", "mkdir", "mount", "resize2fs", "sleep"]) standIn(name);
    standIn("grep", "exit 0");
    const result = spawnSync("dash", ["-c", fileOf(plans.nfs!, PATHS.nfsDisk)], { encoding: "utf8", env: { PATH: `${dir}:/usr/bin:/bin` } });
    const calls = spawnSync("cat", [log], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    return { status: result.status ?? 128, calls, stderr: result.stderr };
  }

  // berth:nfs.dataVolumeSize raised: Cinder extends the attached volume online (the provider's
  // enable_online_resize) and the guest sees the bigger disk, but the ext4 filesystem keeps its
  // size until resize2fs grows it (online, while mounted; a no-op when it already fills the disk).
  it("grows the mounted filesystem to the volume's size on every run, without formatting it", () => {
    const { status, calls, stderr } = runDiskScript({ formatted: true, mounted: true });
    expect(stderr).toBe("");
    expect(status).toBe(0);
    expect(calls).toContain("resize2fs /dev/disk/by-id/virtio-volume-serial");
    expect(calls.some((call) => call.startsWith("mkfs.ext4"))).toBe(false);
  });
  it("formats a new volume once, mounts it, then grows (nothing to grow)", () => {
    const { status, calls } = runDiskScript({ formatted: false, mounted: false });
    expect(status).toBe(0);
    const order = ["mkfs.ext4", "mount /srv/berth-nfs", "resize2fs"].map((prefix) => calls.findIndex((call) => call.startsWith(prefix)));
    expect(
      order.every((index) => index >= 0),
      calls.join("\n"),
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});

describe("systemd units pass systemd-analyze verify", () => {
  function verify(name: string, content: string): string {
    const dir = mkdtempSync(join(scratch, "units-"));
    const path = join(dir, name);
    writeFileSync(path, content);
    const result = run(["systemd-analyze", "verify", "--man=no", path]);
    // The machine's own units may warn about themselves; only lines about this unit count.
    const ours = result.stderr.split("\n").filter((line) => line.includes(name));
    return [result.status === 0 ? "" : `exit ${result.status}`, ...ours].filter(Boolean).join("\n");
  }
  it("the proxy unit (with this machine's node and a bundle that exists)", () => {
    const bundle = join(scratch, "berth-proxy.cjs");
    writeFileSync(bundle, "");
    const env = join(scratch, "proxy.env");
    writeFileSync(env, fileOf(plans.manager!, PATHS.proxyEnv));
    expect(
      verify(
        "berth-proxy.service",
        renderProxyUnit({ user: "berth", environmentFile: env, nodeBinary: "/usr/bin/node", ...PROXY_PROCESS, bundlePath: bundle, writablePaths: [scratch] }),
      ),
    ).toBe("");
  });
  it("the node firewall unit", () => {
    const script = join(scratch, "berth-node-firewall");
    writeFileSync(script, "#!/bin/sh\n");
    chmodSync(script, 0o755);
    expect(verify("berth-node-firewall.service", renderNodeFirewallUnit({ scriptPath: script }))).toBe("");
  });
  for (const share of NFS_SHARES) {
    it(`the mount unit for ${share.path}`, () => {
      const unit = mountUnitName(share.path);
      expect(verify(unit, fileOf(plans.node!, `/etc/systemd/system/${unit}`))).toBe("");
    });
  }
  it("the OpenStorage driver unit", () => {
    expect(verify("berth-osd.service", fileOf(plans.node!, PATHS.osdUnit))).toBe("");
  });
  it("a broken unit is caught", () => {
    expect(verify("broken.service", "[Service]\nExecStart=relative/path\n")).not.toBe("");
  });
});
