/**
 * Step 1, authenticate: the FDCS headers become an Identity, or the request stops here with a 401
 * (or 503 when Keystone cannot answer) before anything reaches an engine. With authentication off
 * (SWARM_MULTI_TENANT=false and BERTH_AUTH_BACKEND=none) every caller is an anonymous administrator,
 * which is what FDCS's debugging mode meant.
 */
import type { IncomingHttpHeaders } from "node:http";
import { type Authenticator, type Identity, credentialsFrom } from "../identity/identity.ts";

const ANONYMOUS_ADMIN: Identity = { user: "anonymous", tenant: "none", admin: true };

export async function authenticate(authenticator: Authenticator | undefined, headers: IncomingHttpHeaders, address: string): Promise<Identity> {
  if (authenticator === undefined) return ANONYMOUS_ADMIN;
  return authenticator.authenticate(credentialsFrom(headers, address));
}
