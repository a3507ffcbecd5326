/**
 * Who is asking. Every backend turns the two FDCS headers (`X-Auth-Token`, `X-Auth-TenantId`)
 * into an Identity or refuses; the rest of the proxy only ever sees an Identity. A refusal here
 * happens before anything reaches an engine.
 */
import type { IncomingHttpHeaders } from "node:http";
import { Refusal } from "../http/errors.ts";

/** Tenant ids become name prefixes (`<tenant>_<name>`), so they must never contain `_`. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export interface Identity {
  /** The user's name (or id when the backend has no name), for the audit log. */
  user: string;
  /** The tenant (OpenStack project id) the request acts for; owner of what it creates. */
  tenant: string;
  /** Admins see and manage everything, unscoped. */
  admin: boolean;
}

export interface Authenticator {
  authenticate(credentials: Credentials): Promise<Identity>;
}

export interface Credentials {
  token: string;
  tenant: string;
  /** The client's address, which bounds its share of the identity service. */
  address: string;
}

export const unauthenticated = (message: string): Refusal => new Refusal(401, message, "unauthenticated");

export function credentialsFrom(headers: IncomingHttpHeaders, address: string): Credentials {
  const token = single(headers, "x-auth-token");
  const tenant = single(headers, "x-auth-tenantid");
  if (token === undefined || tenant === undefined) {
    throw unauthenticated("missing X-Auth-Token or X-Auth-TenantId header: configure HttpHeaders in your docker config.json");
  }
  if (!TENANT_ID_PATTERN.test(tenant)) throw unauthenticated("malformed X-Auth-TenantId header");
  if (token.length > 16_384 || /[\s\u0000-\u001f]/.test(token)) throw unauthenticated("malformed X-Auth-Token header");
  return { token, tenant, address };
}

/** Node joins a repeated header with ", ", which the token and tenant checks then refuse. */
function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}
