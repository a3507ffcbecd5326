/**
 * The stack configurations the tests deploy: the documented example's shape (a manager and three
 * docker nodes) with a pretend proxy bundle.
 */
import type { ParseOptions, RawConfig } from "../../infra/config.ts";

export const BUNDLE_PATH = "/tmp/berth-test-bundle.cjs";
export const BUNDLE_CONTENT = Buffer.from("console.log('the bundled proxy');\n");

export const SOURCE_MAP_CONTENT = Buffer.from('{"version":3,"sources":[],"mappings":""}\n');

/** A pretend bundle whose source map is missing. */
export const BUNDLE_WITHOUT_MAP_PATH = "/tmp/berth-test-bundle-without-map.cjs";

/** Reads only the pretend bundles and the one source map, so no test depends on `npm run build`. */
export const parseOptions: ParseOptions = {
  readBundle: (path) =>
    path === BUNDLE_PATH || path === BUNDLE_WITHOUT_MAP_PATH ? BUNDLE_CONTENT : path === `${BUNDLE_PATH}.map` ? SOURCE_MAP_CONTENT : undefined,
};

export function exampleValues(): Record<string, unknown> {
  return {
    flavor: "m1.small",
    image: "debian-12-genericcloud-amd64",
    nodes: { "docker-host-1": {}, "docker-host-2": {}, "docker-host-3": { flavor: "m1.large" } },
    nfs: { dataVolumeSize: 100 },
    externalNetwork: "public",
    network: { cidr: "10.42.0.0/16", dnsServers: ["192.0.2.53"] },
    sshAllowedCidrs: ["198.51.100.0/24"],
    proxyAllowedCidrs: ["198.51.100.0/24", "192.0.2.0/24"],
    proxy: {
      bundle: BUNDLE_PATH,
      keystoneUrl: "https://keystone.example:5000/v3",
      adminTenantId: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
      flavors: { default: { Memory: 64 }, medium: { Memory: 128 }, large: { Memory: 256 } },
      quota: { Memory: 300 },
      apiFilter: { disableapi: ["networkconnect"] },
    },
  };
}

export function rawConfig(values: Record<string, unknown> = exampleValues(), overrides: Partial<RawConfig> = {}): RawConfig {
  return { project: "berth", stack: "test", values, openstackCloud: "mycloud", env: {}, ...overrides };
}
