/**
 * The Pulumi program itself (infra/index.ts, Pulumi.yaml's main), run in this process under the
 * local cloud's mocks with the local cloud's stack file, as `pulumi up` would run it: what it
 * declares is returned as recorded resources (scripts/lib/mock-cloud.ts).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { startMockCloud, type RecordedResource } from "../lib/mock-cloud.ts";
import type { Inventory } from "../../infra/inventory.ts";
import { localCloudMocks, type LocalCloudAnswers } from "./cloud.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export const stackFile = (stack: string) => `${ROOT}stacks/Pulumi.${stack}.yaml`;

/** The stack file's config, as the CLI hands it to the program: objects as JSON, scalars as text. */
export function stackConfig(stack: string): Record<string, string> {
  const file = parseYaml(readFileSync(stackFile(stack), "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(Object.entries(file.config).map(([key, value]) => [key, typeof value === "object" ? JSON.stringify(value) : String(value)]));
}

/** What the program declared, and the stack outputs an operator reads with `pulumi stack output`. */
export interface ProgramRun {
  resources: RecordedResource[];
  outputs: { inventory: Inventory; sshPrivateKey: string; caCertificate: string; onboardingHint: string };
}

/** Runs the program once (one process runs it once: its modules register at import). */
export async function runProgram(answers: LocalCloudAnswers, stack: string): Promise<ProgramRun> {
  const cloud = await startMockCloud("berth", stack, localCloudMocks(answers));
  pulumi.runtime.setAllConfig(stackConfig(stack));
  // The heavy modules first, so that registration starts at once when the program is imported.
  await Promise.all([import("@pulumi/openstack"), import("@pulumi/command"), import("@pulumi/tls"), import("../../infra/cluster.ts")]);
  let program: typeof import("../../infra/index.ts") | undefined;
  const resources = await cloud.record(async () => {
    program = await import("../../infra/index.ts");
  });
  const [inventory, sshPrivateKey, caCertificate, onboardingHint] = await Promise.all([
    cloud.value(program!.inventory),
    cloud.value(program!.sshPrivateKey),
    cloud.value(program!.caCertificate),
    cloud.value(program!.onboardingHint),
  ]);
  return { resources, outputs: { inventory, sshPrivateKey, caCertificate, onboardingHint } };
}
