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
import { localCloudMocks, type LocalCloudAnswers } from "./cloud.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const LOCAL_CLOUD_STACK = "local-cloud";

/** The stack file's config, as the CLI hands it to the program: objects as JSON, scalars as text. */
export function stackConfig(stack: string): Record<string, string> {
  const file = parseYaml(readFileSync(`${ROOT}stacks/Pulumi.${stack}.yaml`, "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(Object.entries(file.config).map(([key, value]) => [key, typeof value === "object" ? JSON.stringify(value) : String(value)]));
}

/** Runs the program once (one process runs it once: its modules register at import). */
export async function declaredResources(answers: LocalCloudAnswers, stack = LOCAL_CLOUD_STACK): Promise<RecordedResource[]> {
  const cloud = await startMockCloud("berth", stack, localCloudMocks(answers));
  pulumi.runtime.setAllConfig(stackConfig(stack));
  // The heavy modules first, so that registration starts at once when the program is imported.
  await Promise.all([import("@pulumi/openstack"), import("@pulumi/command"), import("@pulumi/tls"), import("../../infra/cluster.ts")]);
  return cloud.record(() => import("../../infra/index.ts"));
}
