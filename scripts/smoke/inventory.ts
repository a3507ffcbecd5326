/**
 * Where the smoke scripts learn the cluster's layout: the inventory the Pulumi stack exports
 * (`pulumi stack output --json --stack <name>`, key `inventory`) or the file the local cluster
 * writes (.local/inventory.json). Both have the shape of infra/inventory.ts `Inventory`; it is
 * checked here so a wrong file fails with the field that is wrong rather than half-way through
 * the checks.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ENGINE_LINES } from "../../infra/engine-line.ts";
import { INVENTORY_VERSION, type Inventory } from "../../infra/inventory.ts";
import { $ } from "zx";

const host = {
  name: z.string().min(1),
  privateAddress: z.string().min(1),
  publicAddress: z.string().min(1).optional(),
  sshHostKey: z.string().regex(/^[a-z0-9-]+ [A-Za-z0-9+/=]+$/, { message: "is not a host key line (type and key)" }),
};

const inventorySchema = z.object({
  version: z.literal(INVENTORY_VERSION),
  cluster: z.string(),
  engineLine: z.enum(ENGINE_LINES),
  manager: z.object({ ...host, publicAddress: z.string().min(1), sshUser: z.string().min(1) }),
  nodes: z.array(z.object({ ...host, enginePort: z.number().int().positive() })).min(1, "the inventory lists no docker nodes"),
  nfs: z.object({ ...host, shares: z.array(z.string()) }),
  etcd: z.object({ ...host, clientUrl: z.string().url() }).optional(),
  proxy: z.object({
    endpoint: z.string().min(1),
    url: z.string().url(),
    port: z.number().int().positive(),
    authBackend: z.enum(["keystone", "static", "none"]),
    keystoneUrl: z.string().optional(),
  }),
  ca: z.object({ pem: z.string().includes("BEGIN CERTIFICATE", { message: "is not a PEM certificate" }), managerPath: z.string(), hint: z.string() }),
  tenants: z.object({ onboarding: z.string() }),
});

/** Checks `value` against the Inventory shape; the error names each wrong field. */
export function parseInventory(value: unknown, source: string): Inventory {
  const parsed = inventorySchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(top)"}: ${issue.message}`);
    throw new Error(`${source} is not a berth inventory: ${problems.join("; ")}`);
  }
  return parsed.data;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON: ${(error as Error).message}`);
  }
}

/** The `inventory` output out of `pulumi stack output --json` (all outputs of the stack). */
export function inventoryFromStackOutputs(stdout: string, stack: string): Inventory {
  const source = `the outputs of stack ${stack}`;
  const outputs = parseJson(stdout, source);
  if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs)) throw new Error(`${source} are not a JSON object`);
  const record = outputs as Record<string, unknown>;
  if (!("inventory" in record)) {
    const keys = Object.keys(record);
    throw new Error(
      `${source} have no "inventory" (outputs: ${keys.length > 0 ? keys.join(", ") : "none"}); was the stack deployed with this version of berth?`,
    );
  }
  const inventory = record.inventory;
  if (inventory === "[secret]") throw new Error(`${source}: "inventory" is a secret; run with --show-secrets or export it unsecret`);
  return parseInventory(typeof inventory === "string" ? parseJson(inventory, `${source} (inventory)`) : inventory, source);
}

export function readInventoryFile(path: string): Inventory {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read the inventory ${path}: ${(error as Error).message}`);
  }
  return parseInventory(parseJson(text, path), path);
}

export async function readStackInventory(stack: string): Promise<Inventory> {
  const output = await $({ nothrow: true, quiet: true })`pulumi stack output --json --stack ${stack}`;
  // bash's own answer when the program is missing.
  if (output.exitCode === 127) throw new Error("pulumi is not installed here: use --inventory <file> instead of --stack");
  if (output.exitCode !== 0) throw new Error(`pulumi stack output --stack ${stack}: ${output.stderr.trim() || `exited with ${output.exitCode}`}`);
  return inventoryFromStackOutputs(output.stdout, stack);
}

/** Every host of the inventory once (a host may play two roles), the manager first. */
export function inventoryHosts(inventory: Inventory): Array<{ role: string; name: string; address: string; sshHostKey: string }> {
  const all = [
    { role: "manager", name: inventory.manager.name, address: inventory.manager.privateAddress, sshHostKey: inventory.manager.sshHostKey },
    ...inventory.nodes.map((node) => ({ role: "node", name: node.name, address: node.privateAddress, sshHostKey: node.sshHostKey })),
    { role: "nfs", name: inventory.nfs.name, address: inventory.nfs.privateAddress, sshHostKey: inventory.nfs.sshHostKey },
    ...(inventory.etcd ? [{ role: "etcd", name: inventory.etcd.name, address: inventory.etcd.privateAddress, sshHostKey: inventory.etcd.sshHostKey }] : []),
  ];
  const seen = new Set<string>();
  return all.filter((h) => (seen.has(h.address) ? false : (seen.add(h.address), true)));
}
