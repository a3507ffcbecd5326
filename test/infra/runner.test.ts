/**
 * The program as `pulumi up` starts it: Pulumi.yaml's main and runtime options, the stack files in
 * stacks/, Pulumi's own nodejs runner in a child process (as pulumi-language-nodejs launches it:
 * node <nodeargs> @pulumi/pulumi/cmd/run --monitor --engine --project --stack --pwd <main>, the
 * configuration in PULUMI_CONFIG), against the pretend engine. This is what proves that
 * `nodeargs: --import tsx` with `typescript: false` runs the TypeScript program, and that the
 * example stacks are valid. (Bad configurations are config.test.ts's: under this runner a program
 * that throws takes about 30 s to be reported, whatever the program.)
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPretendEngine, type PretendEngine } from "./pulumi-engine.ts";
import { SECRET_SIGNATURE } from "../../scripts/lib/mock-cloud.ts";
import { BUNDLE_CONTENT, SOURCE_MAP_CONTENT } from "./fixtures.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RUNNER = createRequire(import.meta.url).resolve("@pulumi/pulumi/cmd/run");
interface RuntimeOptions {
  typescript?: boolean;
  nodeargs?: string;
}
const project = parseYaml(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as {
  name: string;
  main: string;
  stackConfigDir: string;
  runtime: { name: string; options: RuntimeOptions };
};
const scratch = mkdtempSync(join(tmpdir(), "berth-runner-"));
const bundle = join(scratch, "berth-proxy.cjs");
writeFileSync(bundle, BUNDLE_CONTENT);
writeFileSync(`${bundle}.map`, SOURCE_MAP_CONTENT);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A stack file's config as the CLI hands it to the language host: objects as JSON, scalars as text. */
function stackConfig(stack: string, changes: (config: Record<string, unknown>) => void = () => {}): Record<string, string> {
  const file = parseYaml(readFileSync(join(ROOT, project.stackConfigDir, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
  const config = structuredClone(file.config);
  const proxy = (config["berth:proxy"] ?? {}) as Record<string, unknown>;
  config["berth:proxy"] = { ...proxy, bundle };
  changes(config);
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => {
      const [namespace, name] = key.split(":");
      return [`${namespace}:config:${name}`, typeof value === "object" ? JSON.stringify(value) : String(value)];
    }),
  );
}

interface Run {
  code: number;
  stderr: string;
}

function runProgram(engine: PretendEngine, config: Record<string, string>, stack: string, options: RuntimeOptions = project.runtime.options): Promise<Run> {
  const nodeargs = (options.nodeargs ?? "").split(/\s+/).filter(Boolean);
  const argv = [
    ...nodeargs,
    RUNNER,
    "--monitor",
    engine.address,
    "--engine",
    engine.address,
    "--project",
    project.name,
    "--stack",
    stack,
    "--pwd",
    ROOT,
    "--parallel",
    "16",
    project.main,
  ];
  const env = {
    ...process.env,
    PULUMI_CONFIG: JSON.stringify(config),
    PULUMI_CONFIG_SECRET_KEYS: "[]",
    ...(options.typescript ? { PULUMI_NODEJS_TYPESCRIPT: "true" } : {}),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout.on("data", () => {});
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 128, stderr }));
  });
}

describe("Pulumi.yaml", () => {
  it("runs the TypeScript program through tsx, not through Pulumi's ts-node", () => {
    expect(project.runtime.name).toBe("nodejs");
    expect(project.runtime.options.typescript).toBe(false);
    expect(project.runtime.options.nodeargs).toBe("--import tsx");
    expect(project.main).toBe("infra/index.ts");
    expect(project.stackConfigDir).toBe("stacks");
  });
});

interface Outcome {
  engine: PretendEngine;
  run: Run;
}

/** Each run gets its own pretend engine; all of them run at once (each takes a few seconds). */
const outcomes = new Map<string, Outcome>();
beforeAll(async () => {
  const runs: Array<[string, string, RuntimeOptions | undefined]> = [
    ["example", "example", undefined],
    ["minimal", "minimal", undefined],
    ["without tsx", "minimal", { typescript: true, nodeargs: "" }],
  ];
  await Promise.all(
    runs.map(async ([label, stack, options]) => {
      const engine = await startPretendEngine();
      outcomes.set(label, { engine, run: await runProgram(engine, stackConfig(stack), stack, options) });
    }),
  );
}, 120_000);
afterAll(() => Promise.all([...outcomes.values()].map(({ engine }) => engine.stop())));

describe("Pulumi's own TypeScript support, without tsx", () => {
  it("cannot load the program (ES modules with .ts imports): tsx is what runs it", () => {
    const { engine, run } = outcomes.get("without tsx")!;
    expect(run.code).not.toBe(0);
    expect(engine.record.resources.filter((resource) => resource.type.startsWith("openstack:"))).toEqual([]);
  });
});

describe.each(["example", "minimal"])("the %s stack, run by Pulumi's nodejs runner", (stack) => {
  const outcome = () => outcomes.get(stack)!;

  it("completes", () => {
    const { engine, run } = outcome();
    expect(run.stderr).toBe("");
    expect(engine.record.log).toEqual([]);
    expect(run.code).toBe(0);
  });
  it("registers the cluster: a manager, the nodes of the stack file, etcd and NFS", () => {
    const { engine } = outcome();
    const servers = engine.record.resources.filter((resource) => resource.type === "openstack:compute/instance:Instance").map((resource) => resource.name);
    const nodes = Object.keys((parseYaml(readFileSync(join(ROOT, "stacks", `Pulumi.${stack}.yaml`), "utf8")) as any).config["berth:nodes"]);
    expect(servers.sort()).toEqual(
      ["berth-etcd-server", "berth-manager-server", "berth-nfs-server", ...nodes.map((node) => `berth-node-${node}-server`)].sort(),
    );
  });
  it("exports the outputs, the generated SSH key as a secret", () => {
    const { engine } = outcome();
    const stackUrn = engine.record.resources.find((resource) => resource.type === "pulumi:pulumi:Stack")!.urn;
    const outputs = engine.record.outputs.get(stackUrn)!;
    expect(Object.keys(outputs).sort()).toEqual(
      [
        "caCertificate",
        "engineLine",
        "etcdAddress",
        "inventory",
        "managerAddress",
        "managerPrivateAddress",
        "nfsAddress",
        "nodeAddresses",
        "onboardingHint",
        "proxyEndpoint",
        "proxyHealth",
        "sshPrivateKey",
      ].sort(),
    );
    expect(outputs.proxyEndpoint).toMatch(/^tcp:\/\/203\.0\.113\.\d+:2376$/);
    expect((outputs.sshPrivateKey as Record<string, unknown>)[SECRET_SIGNATURE]).toBeDefined();
    expect((outputs.inventory as Record<string, unknown>)[SECRET_SIGNATURE]).toBeUndefined();
  });
});
