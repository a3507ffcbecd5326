/**
 * The pure parts of keeping tenants apart below IP: MAC addresses refused, NET_RAW dropped with
 * ping opened, the default network rewritten to the tenant's own bridge, and which predefined
 * networks a caller sees. The integration test (test/integration/layer2.test.ts) proves them on
 * a real engine.
 */
import { describe, expect, it } from "vitest";
import { ADMIN_SCOPE, SHARED_NETWORKS_SCOPE, TenantScope, hasTenantBridge, isVisibleNetwork, scopedFilterValues } from "../../tenant-proxy/src/ownership.ts";
import { ENDPOINT_RULES, checkFields } from "../../tenant-proxy/src/policy/fields.ts";
import { withoutRawSockets } from "../../tenant-proxy/src/policy/raw-sockets.ts";
import { checkCreateBody } from "../../tenant-proxy/src/rewrite/container-create.ts";
import { joinsDefaultNetwork, onTenantBridge } from "../../tenant-proxy/src/rewrite/tenant-bridge.ts";
import { networkView } from "../../tenant-proxy/src/rewrite/views.ts";
import { readSettings } from "../../tenant-proxy/src/settings.ts";
import { refusalOf } from "../support/refusal.ts";
import type { Policy } from "../../tenant-proxy/src/settings-types.ts";

const policy: Policy = readSettings({ BERTH_UPSTREAM: "unix:///run/docker.sock", BERTH_AUTH_BACKEND: "none", SWARM_MULTI_TENANT: "false" }).policy;
const t1 = new TenantScope("t1");
const PING = { "net.ipv4.ping_group_range": "0 65535" };

describe("MAC addresses", () => {
  it.each([
    [{ Image: "x", MacAddress: "02:42:ac:11:00:02" }, "MacAddress"],
    [
      { Image: "x", NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: "02:42:ac:11:00:02" } } } },
      "NetworkingConfig.EndpointsConfig.bridge.MacAddress",
    ],
  ])("are refused in a create (%o) with a 403 naming %s", (body, field) => {
    const refusal = refusalOf(() => checkCreateBody(body, policy));
    expect(refusal.status).toBe(403);
    expect(refusal.message).toBe(`${field}: choosing a MAC address is not allowed: the engine assigns one`);
  });

  it("are refused in a network connect's endpoint, and an empty one passes", () => {
    expect(refusalOf(() => checkFields({ MacAddress: "02:42:ac:11:00:02" }, ENDPOINT_RULES, "EndpointConfig")).message).toMatch(
      /^EndpointConfig\.MacAddress: /,
    );
    expect(checkFields({ MacAddress: "" }, ENDPOINT_RULES, "EndpointConfig")).toEqual({ MacAddress: "" });
  });
});

describe("withoutRawSockets", () => {
  it("drops NET_RAW and opens ping in the container's own network namespace", () => {
    expect(withoutRawSockets({})).toEqual({ CapDrop: ["NET_RAW"], Sysctls: PING });
    expect(withoutRawSockets({ CapDrop: ["MKNOD"], NetworkMode: "t1_front" })).toEqual({
      CapDrop: ["MKNOD", "NET_RAW"],
      NetworkMode: "t1_front",
      Sysctls: PING,
    });
  });

  it("keeps a drop that already covers NET_RAW, and sets nothing in another container's namespace", () => {
    expect(withoutRawSockets({ CapDrop: ["cap_net_raw"] }).CapDrop).toEqual(["cap_net_raw"]);
    expect(withoutRawSockets({ CapDrop: ["ALL"] }).CapDrop).toEqual(["ALL"]);
    expect(withoutRawSockets({ NetworkMode: "container:abc" })).toEqual({ CapDrop: ["NET_RAW"], NetworkMode: "container:abc" });
  });

  it("refuses a CapDrop that is not a list", () => {
    expect(refusalOf(() => withoutRawSockets({ CapDrop: "NET_RAW" })).status).toBe(400);
  });

  it("is applied to every tenant create, while the tenant's own sysctls stay refused", () => {
    expect(checkCreateBody({ Image: "x" }, policy).HostConfig).toMatchObject({ CapDrop: ["NET_RAW"], Sysctls: PING });
    expect(refusalOf(() => checkCreateBody({ Image: "x", HostConfig: { Sysctls: PING } }, policy)).message).toMatch(/^HostConfig\.Sysctls/);
  });
});

describe("the tenant's bridge in a create body", () => {
  it("replaces the default network, carrying legacy links and the tenant's name for the container", () => {
    const body = { Image: "x", HostConfig: { NetworkMode: "default", Links: ["t1_db:db"] }, NetworkingConfig: { EndpointsConfig: {} } };
    expect(joinsDefaultNetwork(body)).toBe(true);
    expect(onTenantBridge(body, "t1_bridge", "web")).toEqual({
      Image: "x",
      HostConfig: { NetworkMode: "t1_bridge", Links: ["t1_db:db"] },
      NetworkingConfig: { EndpointsConfig: { t1_bridge: { Links: ["t1_db:db"], Aliases: ["web"] } } },
    });
  });

  it("takes over the endpoint the caller gave for `bridge` or `default`", () => {
    const body = {
      Image: "x",
      HostConfig: { NetworkMode: "bridge" },
      NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { IPv4Address: "" }, Aliases: ["web"] } } },
    };
    expect(onTenantBridge(body, "t1_bridge", "web").NetworkingConfig).toEqual({
      EndpointsConfig: { t1_bridge: { IPAMConfig: { IPv4Address: "" }, Aliases: ["web"] } },
    });
    const unnamed = onTenantBridge({ Image: "x", HostConfig: {}, NetworkingConfig: { EndpointsConfig: { default: {} } } }, "t1_bridge", undefined);
    expect(unnamed).toEqual({ Image: "x", HostConfig: { NetworkMode: "t1_bridge" }, NetworkingConfig: { EndpointsConfig: { t1_bridge: {} } } });
  });

  it("adds the bridge as an endpoint beside another network mode, and leaves other bodies alone", () => {
    const both = {
      Image: "x",
      HostConfig: { NetworkMode: "t1_front", Links: ["t1_db:db"] },
      NetworkingConfig: { EndpointsConfig: { t1_front: { Aliases: ["web"] }, bridge: {} } },
    };
    expect(onTenantBridge(both, "t1_bridge", "web")).toEqual({
      ...both,
      NetworkingConfig: { EndpointsConfig: { t1_front: { Aliases: ["web"] }, t1_bridge: { Aliases: ["web"] } } },
    });
    expect(joinsDefaultNetwork({ HostConfig: { NetworkMode: "none" }, NetworkingConfig: {} })).toBe(false);
    expect(joinsDefaultNetwork({ HostConfig: { NetworkMode: "container:abc" } })).toBe(false);
  });

  it("is for tenants whose networks are their own, not administrators or shared networks", () => {
    expect(hasTenantBridge(t1)).toBe(true);
    expect(hasTenantBridge(ADMIN_SCOPE)).toBe(false);
    expect(hasTenantBridge(SHARED_NETWORKS_SCOPE)).toBe(false);
  });
});

describe("which `bridge` a caller sees", () => {
  const engineBridge = { Name: "bridge", Labels: {} };
  const ownBridge = { Name: "t1_bridge", Labels: { "berth.tenant": "t1" } };
  const othersBridge = { Name: "t2_bridge", Labels: { "berth.tenant": "t2" } };

  it("a tenant: its own, named `bridge`, never the engine's or another tenant's", () => {
    expect(
      [engineBridge, ownBridge, othersBridge, { Name: "none", Labels: {} }].filter((n) => isVisibleNetwork(t1, n)).map((n) => networkView(t1, t1, n).Name),
    ).toEqual(["bridge", "none"]);
    expect(scopedFilterValues(t1, ["bridge", "none"])).toEqual(["t1_bridge", "none"]);
  });

  it("administrators and tenants sharing networks: the engine's", () => {
    expect(isVisibleNetwork(SHARED_NETWORKS_SCOPE, engineBridge)).toBe(true);
    expect(scopedFilterValues(SHARED_NETWORKS_SCOPE, ["bridge"])).toEqual(["bridge"]);
    expect(isVisibleNetwork(ADMIN_SCOPE, engineBridge)).toBe(true);
  });

  it("tenants sharing networks: never the engine's own, host, docker_gwbridge or a swarm's ingress", () => {
    for (const network of [
      { Name: "host", Labels: {} },
      { Name: "docker_gwbridge", Labels: {} },
      { Name: "ingress", Labels: {}, Ingress: true },
    ]) {
      expect(isVisibleNetwork(SHARED_NETWORKS_SCOPE, network), network.Name).toBe(false);
      expect(isVisibleNetwork(ADMIN_SCOPE, network), network.Name).toBe(true);
    }
  });
});
