/**
 * The Engine API version the proxy speaks. Its operations table and body rules (operations.ts,
 * policy/fields.ts) judge requests by v1.41, Docker 20.10's API; a newer engine (Docker 26 answers
 * up to 1.45) still serves v1.41 requests with v1.41's meaning. So the proxy offers clients 1.41
 * wherever they learn a version (`_ping`'s API-Version header, `/version`'s ApiVersion), and refuses
 * a request for a newer one itself, as an engine does: passed on to a newer engine, it would ask for
 * behaviour and fields nobody has judged.
 */
import { badRequest } from "./errors.ts";

export const API_VERSION = "1.41";

/** Orders "major.minor" versions numerically (1.9 < 1.41). */
export function compareApiVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split(".").map(Number);
  const [bMajor = 0, bMinor = 0] = b.split(".").map(Number);
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}

/** Refuses a request path's version newer than the proxy's, in the engine's own words. */
export function checkRequestedVersion(version: string | undefined): void {
  if (version !== undefined && compareApiVersions(version, API_VERSION) > 0) {
    throw badRequest(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
}

/** An engine's `/version` answer with the API version clients may use through the proxy. */
export function versionView(engineVersion: Record<string, unknown>): Record<string, unknown> {
  const engineApi = typeof engineVersion.ApiVersion === "string" ? engineVersion.ApiVersion : API_VERSION;
  return { ...engineVersion, ApiVersion: compareApiVersions(engineApi, API_VERSION) < 0 ? engineApi : API_VERSION };
}
