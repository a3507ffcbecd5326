/**
 * Step 2, authorise: may this identity run this operation at all? Refused operations are refused
 * for everyone; admin-only ones for tenants, except image changes when the operator opens them
 * (BERTH_TENANT_IMAGE_CHANGES); operations the API filter disables, for tenants. The tenant's own
 * objects are checked later, by the operation's handler, as it resolves each reference. Every
 * refusal names the operation and why.
 */
import { Refusal } from "../http/errors.ts";
import type { Identity } from "../identity/identity.ts";
import type { Operation } from "../rewrite/types.ts";
import type { Policy } from "../settings-types.ts";

/** Whether a tenant may call the operation (administrators may call all but refused ones). */
export function openToTenants(operation: Operation, policy: Policy): boolean {
  return operation.access === "tenant" || operation.access === "public" || (operation.imageChange === true && policy.tenantImageChanges);
}

export function authorise(operation: Operation, identity: Identity, policy: Policy): void {
  if (operation.access === "refused") {
    throw new Refusal(403, `${operation.id} is not available: ${operation.reason}`, "refused-operation", operation.id);
  }
  if (identity.admin) return;
  if (!openToTenants(operation, policy)) {
    throw new Refusal(403, `${operation.id} is not available to tenants: ${operation.reason}`, "admin-only", operation.id);
  }
  if (policy.disabledOperations.has(operation.id)) {
    throw new Refusal(403, `${operation.id} (${operation.fdcs}) is disabled on this service`, "disabled-operation", operation.id);
  }
}
