/**
 * The static backend: a tokens file (token → user, tenant, admin) for the local cluster and tests,
 * where running a Keystone is not the point. Tokens are compared by their SHA-256 so a lookup takes
 * the same path whatever the token; the tenant header must be the token's tenant.
 */
import { createHash } from "node:crypto";
import { type Authenticator, type Credentials, type Identity, unauthenticated } from "./identity.ts";
import type { StaticToken } from "../settings-types.ts";

const digest = (token: string): string => createHash("sha256").update(token).digest("hex");

export class StaticTokenAuthenticator implements Authenticator {
  private readonly byDigest: Map<string, StaticToken>;

  constructor(
    tokens: readonly StaticToken[],
    private readonly adminTenantId?: string,
  ) {
    this.byDigest = new Map(tokens.map((entry) => [digest(entry.token), entry]));
  }

  async authenticate(credentials: Credentials): Promise<Identity> {
    const entry = this.byDigest.get(digest(credentials.token));
    if (entry === undefined) throw unauthenticated("invalid, expired or revoked token");
    if (entry.tenant !== credentials.tenant) throw unauthenticated(`the token is not valid for tenant ${credentials.tenant}`);
    const admin = entry.admin === true || (this.adminTenantId !== undefined && entry.tenant === this.adminTenantId);
    return { user: entry.user, tenant: entry.tenant, admin };
  }
}
