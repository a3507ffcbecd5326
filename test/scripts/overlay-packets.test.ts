/**
 * The attacker's datagrams the node firewall test sends (test/support/overlay-packets.ts), checked
 * byte by byte: a wrong byte would make the test's "nothing was delivered" prove nothing.
 */
import { describe, expect, it } from "vitest";
import { dockerMac, memberlistPing, vxlanDatagram } from "../support/overlay-packets.ts";

/** The ones' complement sum over a header that carries its checksum: 0xffff when it is right. */
function onesComplementSum(bytes: Buffer): number {
  let sum = 0;
  for (let index = 0; index < bytes.length; index += 2) sum += bytes.readUInt16BE(index);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

describe("the attacker's datagrams", () => {
  it("computes docker's MAC from an address: 02:42 and the address", () => {
    expect(dockerMac("10.0.0.2")).toBe("02:42:0a:00:00:02");
    expect(dockerMac("172.18.255.1")).toBe("02:42:ac:12:ff:01");
    expect(() => dockerMac("10.0.0")).toThrow(/not an IPv4 address/);
  });

  it("wraps Ethernet, IPv4 and UDP in a VXLAN header with the I flag and the VNI", () => {
    const datagram = vxlanDatagram({
      vni: 0x000102,
      from: { address: "10.0.0.200", mac: "02:42:0a:00:00:c8", port: 40000 },
      to: { address: "10.0.0.2", mac: "02:42:0a:00:00:02", port: 5001 },
      payload: "hello",
    });
    expect([...datagram.subarray(0, 8)]).toEqual([0x08, 0, 0, 0, 0x00, 0x01, 0x02, 0]);
    const ethernet = datagram.subarray(8, 22);
    expect(ethernet.toString("hex")).toBe("02420a000002" + "02420a0000c8" + "0800");
    const ip = datagram.subarray(22, 42);
    expect(ip[0]).toBe(0x45);
    expect(ip.readUInt16BE(2)).toBe(20 + 8 + 5);
    expect(ip[9]).toBe(17);
    expect(onesComplementSum(ip)).toBe(0xffff);
    expect([...ip.subarray(12, 20)]).toEqual([10, 0, 0, 200, 10, 0, 0, 2]);
    const udp = datagram.subarray(42, 50);
    expect([udp.readUInt16BE(0), udp.readUInt16BE(2), udp.readUInt16BE(4)]).toEqual([40000, 5001, 13]);
    expect(datagram.subarray(50).toString()).toBe("hello");
  });

  it('writes a memberlist ping as message type 0 and a msgpack map {SeqNo, Node: ""}', () => {
    expect(memberlistPing(7).toString("hex")).toBe(
      "00" + "82" + "a5" + Buffer.from("SeqNo").toString("hex") + "07" + "a4" + Buffer.from("Node").toString("hex") + "a0",
    );
    expect(() => memberlistPing(300)).toThrow(/fixint/);
  });
});
