/**
 * The preview runs the tenant proxy's own settings reader over the manager's rendered files
 * (infra/proxy-check.ts): whatever the proxy would refuse on the VM stops `pulumi preview`, with
 * the proxy's own words, even where infra's checks of the stack keys know nothing of the rule.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../infra/config.ts";
import { proxyRefusal } from "../../infra/proxy-check.ts";
import type { ProxySettings } from "../../infra/roles.ts";
import { exampleValues, parseOptions, rawConfig } from "./fixtures.ts";

const proxy: ProxySettings = {
  port: 2376,
  authBackend: "keystone",
  keystoneUrl: "https://keystone.example:5000/v3",
  adminTenantId: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
  multiTenant: true,
  networkAuthorization: true,
  flavors: { default: { Memory: 64 } },
  quota: { Memory: 300 },
  apiFilter: { disableapi: ["networkconnect"] },
};
const cluster = { nodes: 3, osd: false, mtu: 1450, sandbox: "none" as const };

describe("the proxy's own reader at preview", () => {
  it("accepts what the manager of the example stack gets, with the NFS volumes or the osd plugin", () => {
    expect(proxyRefusal({ proxy, ...cluster })).toBeUndefined();
    expect(proxyRefusal({ proxy, ...cluster, osd: true })).toBeUndefined();
    for (const sandbox of ["userns", "gvisor"] as const) expect(proxyRefusal({ proxy, ...cluster, sandbox })).toBeUndefined();
    expect(() => parseConfig(rawConfig(exampleValues()), parseOptions)).not.toThrow();
  });

  it("answers with the proxy's refusal, under the stack key that sets its variable", () => {
    expect(proxyRefusal({ proxy: { ...proxy, apiFilter: { disableapi: ["nosuchoperation"] } }, ...cluster })).toMatchObject({
      key: "berth:proxy.apiFilter",
      message: expect.stringMatching(/unknown operation "nosuchoperation".*\(the tenant proxy would not start with this SWARM_APIFILTER_FILE\)$/),
    });
    expect(proxyRefusal({ proxy: { ...proxy, keystoneUrl: "https://keystone.example:5000/v2.0" }, ...cluster })).toEqual({
      key: "berth:proxy.keystoneUrl",
      message: "Keystone v2.0 no longer exists: give the v3 URL (…/v3) (the tenant proxy would not start with this SWARM_KEYSTONE_URL)",
    });
  });

  it("speaks of the other settings a refusal names by their stack keys", () => {
    expect(proxyRefusal({ proxy: { ...proxy, authBackend: "none", keystoneUrl: undefined }, ...cluster })).toEqual({
      key: "berth:proxy.authBackend",
      message:
        "none means no authentication, which is only allowed with berth:proxy.multiTenant=false (the tenant proxy would not start with this BERTH_AUTH_BACKEND)",
    });
  });
});
