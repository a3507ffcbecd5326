/**
 * The manager's proxy.env is read by the real proxy's settings reader, with the other files the
 * plan writes beside it: a setting the template forgets (the volume backend a cluster requires) or
 * misspells would stop the proxy on the VM, so it must stop this test first.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderProxyEnv, type ProxyVolumes } from "../../infra/render.ts";
import { PATHS, proxyTlsFiles, VOLUME_ROOT, type RolePlan } from "../../infra/roles.ts";
import { readSettings } from "../../tenant-proxy/src/settings.ts";
import { SETTINGS, type SettingKey, settingNamed } from "../../tenant-proxy/src/settings-table.ts";
import { testDir } from "../support/test-dir.ts";
import { parseEnvironmentFile } from "../../infra/environment-file.ts";
import { CLUSTER, exampleManagerPlan } from "./plans.ts";

const dir = testDir("berth-proxy-env-");

/** Writes the plan's /etc/berth files under a scratch root and reads proxy.env with paths moved there. */
function settingsOf(manager: RolePlan, name: string) {
  const root = join(dir.path, name);
  const files = [...manager.files, ...proxyTlsFiles({ caCert: "ca", serverCert: "cert", serverKey: "key" })];
  for (const file of files.filter((f) => f.path.startsWith("/etc/berth/"))) {
    mkdirSync(dirname(join(root, file.path)), { recursive: true });
    writeFileSync(join(root, file.path), file.content);
  }
  const env = parseEnvironmentFile(manager.files.find((f) => f.path === PATHS.proxyEnv)!.content);
  const moved = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.startsWith("/etc/berth/") ? join(root, value) : value]));
  return readSettings(moved);
}

describe("the manager's proxy.env starts the proxy in cluster mode", () => {
  it("with volumes on the NFS share the manager mounts", () => {
    const settings = settingsOf(exampleManagerPlan({ osd: false }), "nfs");
    expect(settings.volumes).toEqual({ kind: "nfs", server: CLUSTER.nfs, export: VOLUME_ROOT, root: VOLUME_ROOT });
    expect(settings.engines.named).toBe(true);
    expect(settings.engines.nodes).toHaveLength(Object.keys(CLUSTER.nodes).length);
    expect(settings.policy.quota).toBeDefined();
  });
  it("with volumes through the OpenStorage plugin", () => {
    expect(settingsOf(exampleManagerPlan({ osd: true }), "osd").volumes).toEqual({ kind: "osd", driver: "nfs" });
  });
  it("the manager mounts the share before the proxy starts and makes the proxy's directory in it", () => {
    const manager = exampleManagerPlan({ osd: false });
    const share = VOLUME_ROOT.slice(0, VOLUME_ROOT.lastIndexOf("/"));
    const mountUnit = manager.files.find((f) => f.path.endsWith(".mount"))!;
    expect(mountUnit.content).toContain(`What=${CLUSTER.nfs}:${share}`);
    expect(manager.packages).toContain("nfs-common");
    expect(manager.after.map((step) => step.command).join("\n")).toMatch(new RegExp(`enable --now .*\\.mount && install -d -o berth -m 0755 ${VOLUME_ROOT}`));
    expect(manager.services.indexOf("berth-proxy.service")).toBeGreaterThan(manager.services.findIndex((unit) => unit.endsWith(".mount")));
  });
});

describe("proxy.env speaks the proxy's own words", () => {
  // One name per concept: what infra says of the volume backend is what the proxy reads back,
  // field for field, so the two can never drift apart under two spellings.
  const backends: ProxyVolumes[] = [
    { kind: "nfs", server: "192.0.2.2", export: "/srv/volumes", root: "/srv/volumes" },
    { kind: "shared-dir", root: "/srv/volumes" },
    { kind: "osd", driver: "nfs" },
  ];
  for (const volumes of backends) {
    it(`reads back the ${volumes.kind} volume backend as written`, () => {
      const env = parseEnvironmentFile(
        renderProxyEnv({ listen: "0.0.0.0:2376", nodesFile: "/etc/berth/nodes", authBackend: "none", multiTenant: false, networkAuthorization: true, volumes }),
      );
      expect(readSettings({ ...env, BERTH_NODES_FILE: undefined, BERTH_UPSTREAM: "unix:///run/docker.sock" }).volumes).toEqual(volumes);
    });
  }
});

describe("proxy.env writes only settings of the proxy's table", () => {
  const everything = {
    listen: "0.0.0.0:2376",
    nodesFile: "/etc/berth/nodes",
    authBackend: "keystone",
    keystoneUrl: "https://keystone.example:5000/v3",
    adminTenantId: "0a1b2c",
    membersTenantId: "3d4e5f",
    multiTenant: true,
    networkAuthorization: true,
    flavorsFile: "/etc/berth/flavors.json",
    quotaFile: "/etc/berth/quota.json",
    apiFilterFile: "/etc/berth/apifilter.json",
    tls: { certFile: "/etc/berth/server.pem", keyFile: "/etc/berth/server-key.pem" },
    networkMtu: 1450,
    tenantRuntime: "runsc",
    volumeOwner: "10000000:10000000",
  } as const;
  const backends: ProxyVolumes[] = [
    { kind: "nfs", server: "192.0.2.2", export: "/srv/volumes", root: "/srv/volumes" },
    { kind: "shared-dir", root: "/srv/volumes" },
    { kind: "osd", driver: "nfs" },
  ];

  it("every variable it can write, with every optional part on, is a setting the proxy reads", () => {
    const written = new Set(backends.flatMap((volumes) => Object.keys(parseEnvironmentFile(renderProxyEnv({ ...everything, volumes })))));
    expect([...written].filter((name) => settingNamed(name) === undefined)).toEqual([]);
    // Every line of the template was rendered: an optional part left off here would go unchecked.
    const template = readFileSync(new URL("../../templates/proxy.env.hbs", import.meta.url), "utf8");
    expect(new Set(template.match(/^[A-Z][A-Z0-9_]*(?==)/gm))).toEqual(written);
  });

  it("names each value as the setting it becomes: NAME={{key}}, key NAME's row in the table", () => {
    const template = readFileSync(new URL("../../templates/proxy.env.hbs", import.meta.url), "utf8");
    const lines = [...template.matchAll(/^([A-Z][A-Z0-9_]*)=\{\{(\w+)\}\}$/gm)];
    expect(lines.length).toBe(template.match(/^[A-Z]/gm)!.length);
    const misnamed = lines.filter(([, name, key]) => SETTINGS[key as SettingKey]?.env !== name).map(([line]) => line);
    expect(misnamed).toEqual([]);
  });
});
