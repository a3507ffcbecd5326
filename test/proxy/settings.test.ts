import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSettings } from "../../tenant-proxy/src/settings.ts";
import { SETTINGS, type Setting, SettingsError } from "../../tenant-proxy/src/settings-table.ts";

const dir = mkdtempSync(join(tmpdir(), "berth-settings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const tokens = file("tokens.json", JSON.stringify([{ token: "token-one-1", user: "u1", tenant: "tenant-1" }]));
const base = { BERTH_UPSTREAM: "unix:///run/docker.sock", BERTH_AUTH_BACKEND: "static", BERTH_TOKENS_FILE: tokens };

function errorOf(env: Record<string, string>): SettingsError {
  try {
    readSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error("expected a SettingsError");
}

describe("readSettings", () => {
  it("reads a complete static configuration with the documented defaults", () => {
    const settings = readSettings(base);
    expect(settings.listen).toEqual({ host: "0.0.0.0", port: 2376 });
    expect(settings.engines).toMatchObject({ named: false, nodes: [{ address: { kind: "unix", path: "/run/docker.sock" } }] });
    expect(settings.volumes).toEqual({ kind: "local" });
    expect(settings.scheduler).toBe("spread");
    expect(settings.auth).toMatchObject({ backend: "static", tokens: [{ user: "u1", tenant: "tenant-1" }] });
    expect(settings.multiTenant).toBe(true);
    expect(settings.networkAuthorization).toBe(true);
    expect(settings.tls).toBeUndefined();
    expect(settings.callLimits).toEqual({ perTenant: 128, total: 2048 });
  });

  it("reads the call limits and refuses ones that are not positive whole numbers", () => {
    expect(readSettings({ ...base, BERTH_TENANT_MAX_CALLS: "16", BERTH_MAX_CALLS: "100" }).callLimits).toEqual({ perTenant: 16, total: 100 });
    expect(errorOf({ ...base, BERTH_TENANT_MAX_CALLS: "0" }).message).toContain("BERTH_TENANT_MAX_CALLS");
    expect(errorOf({ ...base, BERTH_MAX_CALLS: "many" }).message).toContain("BERTH_MAX_CALLS");
  });

  it("keeps FDCS's names working: SWARM_AUTH_BACKEND=Keystone with a v3 URL", () => {
    const settings = readSettings({
      BERTH_UPSTREAM: "tcp://10.0.0.5:2375",
      SWARM_AUTH_BACKEND: "Keystone",
      SWARM_KEYSTONE_URL: "https://keystone.example:5000/v3/",
      SWARM_ADMIN_TENANT_ID: "0123abcd",
      SWARM_MEMBERS_TENANT_ID: "4567ef",
      SWARM_MULTI_TENANT: "true",
      SWARM_NETWORK_AUTHORIZATION: "false",
    });
    expect(settings.auth).toMatchObject({ backend: "keystone", keystoneUrl: "https://keystone.example:5000" });
    expect(settings.engines.nodes[0]!.address).toEqual({ kind: "tcp", host: "10.0.0.5", port: 2375 });
    expect(settings.adminTenantId).toBe("0123abcd");
    expect(settings.networkAuthorization).toBe(false);
  });

  it("reads a setting under its other name, its own name winning when both are given", () => {
    const keystone = { BERTH_UPSTREAM: "unix:///run/docker.sock", BERTH_AUTH_BACKEND: "keystone" };
    expect(readSettings({ ...keystone, BERTH_KEYSTONE_URL: "https://b.example/v3" }).auth).toMatchObject({ keystoneUrl: "https://b.example" });
    expect(readSettings({ ...keystone, SWARM_KEYSTONE_URL: "https://s.example/v3", BERTH_KEYSTONE_URL: "https://b.example/v3" }).auth).toMatchObject({
      keystoneUrl: "https://s.example",
    });
    expect(errorOf({ ...keystone, BERTH_KEYSTONE_URL: "https://b.example/v2.0" }).setting).toBe("BERTH_KEYSTONE_URL");
  });

  it.each([
    [{ BERTH_UPSTREAM: "" }, "BERTH_UPSTREAM", "not both or neither"],
    [{ BERTH_UPSTREAM: "docker.sock" }, "BERTH_UPSTREAM", "unix:///path or tcp://host:port"],
    [{ BERTH_LISTEN: "2376" }, "BERTH_LISTEN", "host:port"],
    [{ BERTH_LISTEN: "0.0.0.0:99999" }, "BERTH_LISTEN", "host:port"],
    [{ BERTH_AUTH_BACKEND: "ldap" }, "BERTH_AUTH_BACKEND", "keystone, static or none"],
    [{ BERTH_AUTH_BACKEND: "static", SWARM_AUTH_BACKEND: "keystone" }, "BERTH_AUTH_BACKEND", "set one"],
    [{ BERTH_AUTH_BACKEND: "none" }, "BERTH_AUTH_BACKEND", "SWARM_MULTI_TENANT=false"],
    [{ BERTH_AUTH_BACKEND: "keystone" }, "SWARM_KEYSTONE_URL", "required"],
    [{ BERTH_AUTH_BACKEND: "keystone", SWARM_KEYSTONE_URL: "http://k:4730/v2.0/" }, "SWARM_KEYSTONE_URL", "v2.0 no longer exists"],
    [{ SWARM_MULTI_TENANT: "yes" }, "SWARM_MULTI_TENANT", "true or false"],
    [{ SWARM_ADMIN_TENANT_ID: "has_underscore" }, "SWARM_ADMIN_TENANT_ID", "project id"],
    [{ SWARM_MEMBERS_TENANT_ID: "abc" }, "SWARM_MEMBERS_TENANT_ID", "keystone"],
    [{ BERTH_TLS_CERT: "/nonexistent.pem" }, "BERTH_TLS_KEY", "go together"],
    [{ BERTH_TLS_CERT: "/nonexistent.pem", BERTH_TLS_KEY: "/nonexistent.key" }, "BERTH_TLS_CERT", "cannot read"],
    [{ BERTH_MAX_BODY_BYTES: "-1" }, "BERTH_MAX_BODY_BYTES", "positive whole number"],
    [{ BERTH_TOKENS_FILE: "/nonexistent/tokens.json" }, "BERTH_TOKENS_FILE", "cannot read"],
  ])("refuses %o, naming %s", (overrides, setting, message) => {
    const error = errorOf({ ...base, ...overrides });
    expect(error.setting).toBe(setting);
    expect(error.message).toContain(message);
  });

  it.each([
    ["not json", "is not JSON"],
    ["[]", "lists no tokens"],
    [JSON.stringify([{ token: "short", user: "u", tenant: "t" }]), "at least 8 characters"],
    [JSON.stringify([{ token: "long-enough", user: "u", tenant: "a_b" }]), "no '_'"],
    [JSON.stringify([{ token: "long-enough", user: "u", tenant: "t", role: "x" }]), "role"],
    [
      JSON.stringify([
        { token: "long-enough", user: "u", tenant: "t" },
        { token: "long-enough", user: "v", tenant: "t" },
      ]),
      "listed twice",
    ],
  ])("refuses a tokens file with %s", (content, message) => {
    const error = errorOf({ ...base, BERTH_TOKENS_FILE: file(`tokens-${Math.random()}.json`, content) });
    expect(error.setting).toBe("BERTH_TOKENS_FILE");
    expect(error.message).toContain(message);
  });
});

describe("BERTH_NETWORK_MTU", () => {
  it("is unset by default: networks keep the engine's MTU", () => {
    expect(readSettings(base).networkMtu).toBeUndefined();
  });
  it("reads the hosts' MTU", () => {
    expect(readSettings({ ...base, BERTH_NETWORK_MTU: "1442" }).networkMtu).toBe(1442);
  });
  for (const bad of ["1500b", "576", "65536", "-1"]) {
    it(`refuses ${bad}`, () => {
      expect(errorOf({ ...base, BERTH_NETWORK_MTU: bad }).message).toMatch(/^BERTH_NETWORK_MTU: expected an MTU from 1280 to 9000/);
    });
  }
});

describe("sandbox settings", () => {
  const sharedDir = { ...base, BERTH_VOLUME_BACKEND: "shared-dir", BERTH_VOLUME_ROOT: "/srv/volumes" };
  it("leave the runtime and the volume directories' owner to the engine by default", () => {
    const settings = readSettings(sharedDir);
    expect(settings.policy.tenantRuntime).toBeUndefined();
    expect(settings.volumes).toEqual({ kind: "shared-dir", root: "/srv/volumes" });
  });
  it("read the tenants' runtime (BERTH_TENANT_RUNTIME)", () => {
    expect(readSettings({ ...base, BERTH_TENANT_RUNTIME: "runsc" }).policy.tenantRuntime).toBe("runsc");
    expect(errorOf({ ...base, BERTH_TENANT_RUNTIME: "/usr/bin/runsc" }).message).toMatch(/^BERTH_TENANT_RUNTIME: expected a runtime name/);
  });
  it("read the remapped root that owns new volume directories (BERTH_VOLUME_OWNER)", () => {
    expect(readSettings({ ...sharedDir, BERTH_VOLUME_OWNER: "100000:100000" }).volumes).toEqual({
      kind: "shared-dir",
      root: "/srv/volumes",
      owner: { uid: 100000, gid: 100000 },
    });
    for (const bad of ["100000", "dockremap:dockremap", "-1:0", "4294967295:0"]) {
      expect(errorOf({ ...sharedDir, BERTH_VOLUME_OWNER: bad }).message).toMatch(/^BERTH_VOLUME_OWNER: expected uid:gid/);
    }
  });
});

describe("the settings table", () => {
  const table: Array<[string, Setting<unknown>]> = Object.entries(SETTINGS);
  it("names each variable once", () => {
    const names = table.flatMap(([, setting]) => [setting.env, ...(setting.alias ? [setting.alias] : [])]);
    expect(names.filter((name, index) => names.indexOf(name) !== index)).toEqual([]);
  });
  it.each(table.filter(([, setting]) => setting.default !== undefined))("gives %s a default its own check accepts", (_key, setting) => {
    expect(() => setting.parse(setting.default!, setting.env)).not.toThrow();
  });
});
