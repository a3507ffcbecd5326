/**
 * The bytes an attacking tenant sends from its container with nothing but a UDP socket: a VXLAN
 * datagram carrying an Ethernet frame for another tenant's overlay container, and a memberlist
 * ping for the engines' overlay control plane (serf on 7946). Pure: the node firewall test sends
 * them and looks for what comes out.
 */

/** The ones' complement sum of RFC 791, over 16-bit words. */
function internetChecksum(bytes: Buffer): number {
  let sum = 0;
  for (let index = 0; index < bytes.length; index += 2) sum += (bytes[index]! << 8) | (bytes[index + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(address: string): Buffer {
  const octets = address.split(".").map(Number);
  if (octets.length !== 4 || octets.some((octet) => !(octet >= 0 && octet <= 255))) throw new Error(`${address} is not an IPv4 address`);
  return Buffer.from(octets);
}

function macBytes(mac: string): Buffer {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) throw new Error(`${mac} is not a MAC address`);
  return Buffer.from(mac.split(":").map((byte) => parseInt(byte, 16)));
}

/** The MAC docker 20.10 gives a container: 02:42 and then its IPv4 address, so anyone can compute it. */
export function dockerMac(address: string): string {
  return ["02", "42", ...[...ipv4Bytes(address)].map((octet) => octet.toString(16).padStart(2, "0"))].join(":");
}

export interface InjectedDatagram {
  /** The victim network's VXLAN network identifier (docker numbers them from 256 up). */
  vni: number;
  /** Inner source: any address of the victim's subnet will do. */
  from: { address: string; mac: string; port: number };
  /** Inner destination: the victim container. */
  to: { address: string; mac: string; port: number };
  payload: string;
}

/** A VXLAN datagram (RFC 7348: flags 0x08 and the VNI) around Ethernet, IPv4 and UDP, for UDP port 4789. */
export function vxlanDatagram(input: InjectedDatagram): Buffer {
  const data = Buffer.from(input.payload);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(input.from.port, 0);
  udp.writeUInt16BE(input.to.port, 2);
  udp.writeUInt16BE(udp.length + data.length, 4); // checksum 0: none, which IPv4 allows
  const ip = Buffer.alloc(20);
  ip[0] = 0x45; // version 4, 5 words of header
  ip.writeUInt16BE(ip.length + udp.length + data.length, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = 64; // TTL
  ip[9] = 17; // UDP
  ipv4Bytes(input.from.address).copy(ip, 12);
  ipv4Bytes(input.to.address).copy(ip, 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);
  const ethernet = Buffer.concat([macBytes(input.to.mac), macBytes(input.from.mac), Buffer.from([0x08, 0x00])]);
  const vxlan = Buffer.alloc(8);
  vxlan[0] = 0x08; // the "VNI is valid" flag
  vxlan.writeUIntBE(input.vni, 4, 3);
  return Buffer.concat([vxlan, ethernet, ip, udp, data]);
}

/**
 * A memberlist ping (message type 0, then a msgpack map {SeqNo, Node}) with no node name, which
 * any memberlist agent answers with an ack (type 2) to the sender: proof that its UDP port answers.
 */
export function memberlistPing(seqNo: number): Buffer {
  if (!(Number.isInteger(seqNo) && seqNo >= 0 && seqNo < 128)) throw new Error("seqNo must fit a msgpack positive fixint");
  const fixstr = (text: string) => Buffer.concat([Buffer.from([0xa0 | text.length]), Buffer.from(text)]);
  return Buffer.concat([Buffer.from([0x00, 0x82]), fixstr("SeqNo"), Buffer.from([seqNo]), fixstr("Node"), fixstr("")]);
}

export const MEMBERLIST_ACK = 0x02;
