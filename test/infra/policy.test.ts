/**
 * The policy pack, run the way `pulumi up --policy-pack infra/policy` runs it: Pulumi's own policy
 * runner (@pulumi/pulumi/cmd/run-policy-pack) started in the pack's directory, which serves the
 * Analyzer gRPC protocol; this test plays the engine, sending each resource as an AnalyzeRequest.
 * It must pass every resource the default program registers (recorded under mocks) and catch each
 * bad case.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedResource } from "../../scripts/lib/mock-cloud.ts";
import { startMockCloud } from "../../scripts/lib/mock-cloud.ts";
import { parseOptions, rawConfig } from "./fixtures.ts";

// The protocol classes come from @pulumi/pulumi's own copies, as the policy runner uses them.
const require = createRequire(import.meta.url);
const pulumiRequire = createRequire(require.resolve("@pulumi/pulumi"));
const grpc = pulumiRequire("@grpc/grpc-js");
const analyzer = require("@pulumi/pulumi/proto/analyzer_pb.js");
const { AnalyzerClient } = require("@pulumi/pulumi/proto/analyzer_grpc_pb.js");
const { Struct } = pulumiRequire("google-protobuf/google/protobuf/struct_pb.js");
const { Empty } = pulumiRequire("google-protobuf/google/protobuf/empty_pb.js");

const PACK_DIR = fileURLToPath(new URL("../../infra/policy/", import.meta.url));
const RUNNER = require.resolve("@pulumi/pulumi/cmd/run-policy-pack");

let pack: ChildProcess;
let client: any;

function call<T>(method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method](request, (error: Error | null, response: T) => (error ? reject(error) : resolve(response))));
}

interface Resource {
  type: string;
  name: string;
  props: Record<string, unknown>;
}

/** The violations the pack reports for one resource: "policy: message" (without the policy's description, which the SDK puts first). */
async function analyze(resource: Resource): Promise<string[]> {
  const request = new analyzer.AnalyzeRequest();
  request.setType(resource.type);
  request.setName(resource.name);
  request.setUrn(`urn:pulumi:test::berth::${resource.type}::${resource.name}`);
  request.setProperties(Struct.fromJavaScript(resource.props));
  request.setOptions(new analyzer.AnalyzerResourceOptions());
  const response = await call<any>("analyze", request);
  return response.getDiagnosticsList().map((diagnostic: any) => {
    const message: string = diagnostic.getMessage();
    return `${diagnostic.getPolicyname()}: ${message.slice(message.indexOf("\n") + 1)}`;
  });
}

async function configure(config: Record<string, Record<string, unknown>>): Promise<void> {
  const request = new analyzer.ConfigureAnalyzerRequest();
  for (const [policy, properties] of Object.entries(config)) {
    const policyConfig = new analyzer.PolicyConfig();
    policyConfig.setEnforcementlevel(analyzer.EnforcementLevel.MANDATORY);
    policyConfig.setProperties(Struct.fromJavaScript(properties));
    request.getPolicyconfigMap().set(policy, policyConfig);
  }
  await call("configure", request);
}

let programResources: RecordedResource[] = [];

beforeAll(async () => {
  // The nodejs language host starts the runner with the engine's address and the pack directory,
  // in that directory; the runner prints the port it serves on.
  pack = spawn(process.execPath, [RUNNER, "127.0.0.1:1", "."], { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  pack.stderr!.on("data", (chunk) => (stderr += chunk));
  const port = await new Promise<string>((resolve, reject) => {
    pack.stdout!.on("data", (chunk: Buffer) => {
      const match = /^(\d+)\s*$/m.exec(chunk.toString());
      if (match) resolve(match[1]!);
    });
    pack.once("exit", (code) => reject(new Error(`the policy pack exited with ${code}: ${stderr}`)));
  });
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

  const cloud = await startMockCloud();
  const { deployBerth } = await import("../../infra/cluster.ts");
  const { parseConfig } = await import("../../infra/config.ts");
  programResources = await cloud.record(() => deployBerth("berth", parseConfig(rawConfig(), parseOptions)));
}, 60_000);

afterAll(() => {
  client?.close();
  if (pack.exitCode === null) pack.kill("SIGTERM");
});

const rule = (props: Record<string, unknown>): Resource => ({
  type: "openstack:networking/secGroupRule:SecGroupRule",
  name: "rule",
  props: { direction: "ingress", ethertype: "IPv4", securityGroupId: "sg", description: "a rule that says what it is for", ...props },
});

describe("the policy pack", () => {
  it("serves berth's four policies", async () => {
    const info = await call<any>("getAnalyzerInfo", new Empty());
    expect(info.getName()).toBe("berth");
    expect(
      info
        .getPoliciesList()
        .map((policy: any) => policy.getName())
        .sort(),
    ).toEqual(["cluster-ports-only-from-cluster-groups", "every-rule-described", "every-vm-behind-a-security-group", "ssh-and-proxy-not-world-open"]);
  });

  it("passes every resource of the default program", async () => {
    expect(programResources.length).toBeGreaterThan(50);
    const violations: string[] = [];
    for (const resource of programResources) {
      for (const violation of await analyze({ type: resource.type, name: resource.name, props: resource.serialized }))
        violations.push(`${resource.name}: ${violation}`);
    }
    expect(violations).toEqual([]);
  });

  it.each<[string, Resource, RegExp]>([
    [
      "the engine API open to a range",
      rule({ protocol: "tcp", portRangeMin: 2375, portRangeMax: 2375, remoteIpPrefix: "10.0.0.0/8" }),
      /^cluster-ports-only-from-cluster-groups: opens the docker engine API \(port 2375\) to 10\.0\.0\.0\/8/,
    ],
    [
      "etcd open to a single address",
      rule({ protocol: "tcp", portRangeMin: 2379, portRangeMax: 2379, remoteIpPrefix: "198.51.100.7/32" }),
      /opens etcd \(port 2379\) to 198\.51\.100\.7\/32/,
    ],
    [
      "NFS open through a rule with no remote (Neutron: everyone)",
      rule({ protocol: "udp", portRangeMin: 2049, portRangeMax: 2049 }),
      /opens NFS \(port 2049\) to everyone \(no remote given\)/,
    ],
    [
      "every port of every protocol open to a range",
      rule({ remoteIpPrefix: "192.0.2.0/24" }),
      /opens the overlay data plane \(port 4789\) to 192\.0\.2\.0\/24/,
    ],
    [
      "SSH open to the world",
      rule({ protocol: "tcp", portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: "0.0.0.0/0" }),
      /^ssh-and-proxy-not-world-open: opens SSH \(port 22\) to 0\.0\.0\.0\/0/,
    ],
    [
      "the proxy open to the IPv6 world",
      rule({ ethertype: "IPv6", protocol: "tcp", portRangeMin: 2376, portRangeMax: 2376, remoteIpPrefix: "::/0" }),
      /opens the tenant proxy \(port 2376\) to ::\/0/,
    ],
    [
      "a rule without a description",
      rule({ protocol: "icmp", remoteGroupId: "sg-nodes", description: "" }),
      /^every-rule-described: a security-group rule without a description/,
    ],
    [
      "a group without a description",
      { type: "openstack:networking/secGroup:SecGroup", name: "group", props: { name: "open" } },
      /^every-rule-described: a security group without a description/,
    ],
    [
      "a VM on a network without a port or security groups",
      { type: "openstack:compute/instance:Instance", name: "vm", props: { name: "vm", flavorName: "m1.small", networks: [{ uuid: "net-1" }] } },
      /^every-vm-behind-a-security-group: a VM on a network without a port of its own/,
    ],
    [
      "a port without a security group",
      { type: "openstack:networking/port:Port", name: "port", props: { networkId: "net-1", securityGroupIds: [] } },
      /^every-vm-behind-a-security-group: a port without a security group/,
    ],
    [
      "a port with port security off",
      { type: "openstack:networking/port:Port", name: "port", props: { networkId: "net-1", securityGroupIds: ["sg"], portSecurityEnabled: false } },
      /a port without a security group \(or with port security off\)/,
    ],
  ])("catches %s", async (_what, resource, expected) => {
    const violations = await analyze(resource);
    expect(
      violations.some((violation) => expected.test(violation)),
      violations.join("\n"),
    ).toBe(true);
  });

  it("lets rules that are not about these ports or ranges pass", async () => {
    expect(await analyze(rule({ protocol: "tcp", portRangeMin: 32768, portRangeMax: 61000, remoteIpPrefix: "0.0.0.0/0" }))).toEqual([]);
    expect(await analyze(rule({ protocol: "tcp", portRangeMin: 2375, portRangeMax: 2375, remoteGroupId: "sg-manager" }))).toEqual([]);
    expect(await analyze(rule({ direction: "egress", remoteIpPrefix: "0.0.0.0/0" }))).toEqual([]);
    expect(
      await analyze({ type: "openstack:compute/instance:Instance", name: "vm", props: { networks: [{ uuid: "net-1" }], securityGroups: ["berth-node"] } }),
    ).toEqual([]);
  });

  it("allows a world-open SSH or proxy only when configured to, and never the cluster's ports", async () => {
    await configure({ "ssh-and-proxy-not-world-open": { allowWholeInternet: true } });
    try {
      expect(await analyze(rule({ protocol: "tcp", portRangeMin: 2376, portRangeMax: 2376, remoteIpPrefix: "0.0.0.0/0" }))).toEqual([]);
      expect(await analyze(rule({ protocol: "tcp", portRangeMin: 2375, portRangeMax: 2375, remoteIpPrefix: "0.0.0.0/0" }))).not.toEqual([]);
    } finally {
      await configure({});
    }
    expect(await analyze(rule({ protocol: "tcp", portRangeMin: 2376, portRangeMax: 2376, remoteIpPrefix: "0.0.0.0/0" }))).not.toEqual([]);
  });
});
