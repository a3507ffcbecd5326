/**
 * The API filter (FDCS SWARM_APIFILTER_FILE): `{"disableapi": ["networkcreate", ...]}` names
 * operations, by the FDCS names in the operation table, that this service does not offer to
 * tenants. Names are checked when the file is read, so a typo stops start-up instead of leaving a
 * call open; `_ping` and `version`, which every client calls first, cannot be disabled.
 */
import { z } from "zod";
import type { Operation } from "../rewrite/types.ts";

const apiFilterSchema = z.strictObject({ disableapi: z.array(z.string().min(1)) });
/** The file's shape: FDCS operation names to refuse. */
export type ApiFilterFile = z.infer<typeof apiFilterSchema>;
const ALWAYS_ON = new Set(["ping", "version"]);

/** The operation ids the file disables, or a message naming what is wrong. */
export function disabledOperations(json: unknown, operations: readonly Operation[]): { disabled: Set<string> } | { error: string } {
  const parsed = apiFilterSchema.safeParse(json);
  if (!parsed.success) return { error: z.prettifyError(parsed.error).replace(/\n/g, "; ") };
  const byName = new Map<string, string[]>();
  for (const operation of operations) byName.set(operation.fdcs, [...(byName.get(operation.fdcs) ?? []), operation.id]);
  const disabled = new Set<string>();
  for (const name of parsed.data.disableapi) {
    const key = name.toLowerCase();
    if (ALWAYS_ON.has(key)) return { error: `"${name}" cannot be disabled: every docker client calls it first` };
    const ids = byName.get(key);
    if (!ids) return { error: `unknown operation "${name}" (the names are listed in tenant-proxy/README.md)` };
    ids.forEach((id) => disabled.add(id));
  }
  return { disabled };
}
