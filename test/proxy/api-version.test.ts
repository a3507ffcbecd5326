import { describe, expect, it } from "vitest";
import { API_VERSION, checkRequestedVersion, compareApiVersions, versionView } from "../../tenant-proxy/src/http/api-version.ts";

describe("the API version the proxy speaks", () => {
  it("is v1.41, the version its operations table and body rules judge", () => {
    expect(API_VERSION).toBe("1.41");
  });

  it("orders versions by number, not by text", () => {
    expect(compareApiVersions("1.9", "1.41")).toBeLessThan(0);
    expect(compareApiVersions("1.41", "1.41")).toBe(0);
    expect(compareApiVersions("1.45", "1.41")).toBeGreaterThan(0);
    expect(compareApiVersions("2.0", "1.99")).toBeGreaterThan(0);
  });

  it("lets unversioned, older and its own version through", () => {
    for (const version of [undefined, "1.12", "1.24", "1.40", "1.41"]) expect(() => checkRequestedVersion(version)).not.toThrow();
  });

  it("refuses a newer version itself, in the engine's words", () => {
    for (const version of ["1.42", "1.45", "1.50", "2.0"]) {
      expect(() => checkRequestedVersion(version)).toThrow(`client version ${version} is too new. Maximum supported API version is 1.41`);
    }
  });

  it("offers clients its own version when the engine's is newer, and the engine's when it is older", () => {
    const docker26 = { Version: "26.1.5+dfsg1", ApiVersion: "1.45", MinAPIVersion: "1.24", Os: "linux" };
    expect(versionView(docker26)).toEqual({ ...docker26, ApiVersion: "1.41" });
    const docker20 = { Version: "20.10.24+dfsg1", ApiVersion: "1.41", MinAPIVersion: "1.12" };
    expect(versionView(docker20)).toEqual(docker20);
    expect(versionView({ ApiVersion: "1.40" }).ApiVersion).toBe("1.40");
  });
});
