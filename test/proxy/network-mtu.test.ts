/**
 * The MTU the proxy gives the networks it creates (issue 10). dockerd 20.10 applies --mtu to the
 * default bridge only (measured here: a user-defined bridge's container had eth0 at 1500 with
 * `dockerd --mtu 1400`, 1300 with `-o com.docker.network.driver.mtu=1300`); libnetwork's overlay
 * driver defaults to 1450 (1500 less VXLAN's 50) and takes the same option as the underlay's MTU,
 * subtracting the 50 itself (measured: the option 1450 gives containers 1400 on the overlay).
 */
import { describe, expect, it } from "vitest";
import { MTU_OPTION, networkMtu, withNetworkMtu } from "../../tenant-proxy/src/policy/network-mtu.ts";

describe("networkMtu", () => {
  it("a bridge gets the hosts' MTU, the engine's default driver too", () => {
    expect(networkMtu("bridge", 1450)).toBe(1450);
    expect(networkMtu("", 1442)).toBe(1442);
  });
  it("an overlay gets the hosts' MTU as its underlay's (the driver subtracts VXLAN's 50 bytes)", () => {
    expect(networkMtu("overlay", 1442)).toBe(1442);
  });
  it("leaves other drivers alone", () => {
    expect(networkMtu("macvlan", 1450)).toBeUndefined();
  });
});

describe("withNetworkMtu", () => {
  it("adds the option, keeping the others", () => {
    expect(withNetworkMtu({ a: "1" }, "overlay", 1450)).toEqual({ a: "1", [MTU_OPTION]: "1450" });
    expect(withNetworkMtu(undefined, "bridge", 1450)).toEqual({ [MTU_OPTION]: "1450" });
  });
  it("keeps an administrator's own MTU", () => {
    expect(withNetworkMtu({ [MTU_OPTION]: "9000" }, "bridge", 1450)).toEqual({ [MTU_OPTION]: "9000" });
  });
  it("changes nothing when the hosts' MTU is not configured", () => {
    expect(withNetworkMtu(undefined, "bridge", undefined)).toBeUndefined();
  });
});
