/**
 * Step 2, authorise: may this identity run this operation at all? Refused operations are refused
 * for everyone, admin-only ones for tenants; the tenant's own objects are checked later, by the
 * operation's handler, when it resolves each reference. Every refusal names the operation and why.
 */
import { Refusal } from "../http/errors.ts";
import type { Identity } from "../identity/identity.ts";
import type { Operation } from "../operations.ts";

export function authorise(operation: Operation, identity: Identity): void {
  if (operation.access === "refused") {
    throw new Refusal(403, `${operation.id} is not available: ${operation.reason}`, "refused-operation", operation.id);
  }
  if (operation.access === "admin" && !identity.admin) {
    throw new Refusal(403, `${operation.id} is not available to tenants: ${operation.reason}`, "admin-only", operation.id);
  }
}
