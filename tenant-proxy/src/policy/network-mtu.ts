/**
 * Networks must fit the hosts' own network. On OpenStack the VMs' network is itself an overlay
 * (Neutron: 1450 on VXLAN, 1442 on Geneve); dockerd 20.10 applies its --mtu to the default bridge
 * only, so a user-defined bridge stays at 1500 and an overlay at 1450 (libnetwork's 1500 less
 * VXLAN), and large packets are lost: big transfers hang. Given the hosts' MTU (BERTH_NETWORK_MTU),
 * every network the proxy creates gets the driver's MTU option set to the hosts' MTU. A bridge uses
 * it as is (its traffic leaves through the host's interface); the overlay driver takes it as the
 * underlay's MTU and subtracts VXLAN's encapsulation itself (measured with dockerd 20.10: the
 * option 1450 gives containers 1400 on the overlay).
 */

export const MTU_OPTION = "com.docker.network.driver.mtu";

/** The drivers that take the option ("" is the engine's default, bridge). */
const MTU_DRIVERS = new Set(["", "bridge", "overlay"]);

/** The option's value for a network of `driver` on hosts whose MTU is `hostMtu`. */
export function networkMtu(driver: string, hostMtu: number): number | undefined {
  return MTU_DRIVERS.has(driver) ? hostMtu : undefined;
}

/** The network create's Options with the MTU added, unless the caller (an administrator) chose one. */
export function withNetworkMtu(options: unknown, driver: string, hostMtu: number | undefined): Record<string, unknown> | undefined {
  const given = options && typeof options === "object" ? (options as Record<string, unknown>) : undefined;
  const mtu = hostMtu === undefined ? undefined : networkMtu(driver, hostMtu);
  if (mtu === undefined || (given && MTU_OPTION in given)) return given;
  return { ...given, [MTU_OPTION]: String(mtu) };
}
