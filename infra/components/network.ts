import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import type { NetworkConfig } from "../config.ts";
import { effectiveMtu } from "../net.ts";

export interface NetworkArgs {
  /** Prefix of the OpenStack names. */
  namePrefix: string;
  /** The external network: floating IPs come from it, and a new router's gateway is on it. */
  externalNetwork: string;
  /** A new private network (with subnet and router), or the ids of an existing one. */
  network: NetworkConfig;
}

/**
 * The private network every VM sits on: a new network, subnet (with DNS servers) and router to the
 * external network, or an existing network and subnet that the operator routes themselves.
 */
export class Network extends pulumi.ComponentResource {
  readonly networkId: pulumi.Output<string>;
  readonly subnetId: pulumi.Output<string>;
  /** The subnet's range: the NFS exports and the node firewall are written for it. */
  readonly cidr: pulumi.Output<string>;
  /** What a floating IP needs before it can be associated (the router's leg on the subnet). */
  readonly routed: pulumi.Resource[];
  /** The network's MTU (berth:network.mtu, else Neutron's `mtu` attribute): docker's networks must fit in it. */
  readonly mtu: pulumi.Output<number>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:Network", name, {}, opts);
    const external = openstack.networking.getNetworkOutput({ name: args.externalNetwork, external: true }, { parent: this });
    if (args.network.kind === "existing") {
      const subnet = openstack.networking.getSubnetOutput({ subnetId: args.network.subnetId, networkId: args.network.networkId }, { parent: this });
      const existing = openstack.networking.getNetworkOutput({ networkId: args.network.networkId }, { parent: this });
      this.mtu = pulumi.output(existing.mtu).apply((mtu) => effectiveMtu(args.network.mtu, mtu));
      this.networkId = pulumi.output(args.network.networkId);
      this.subnetId = subnet.id;
      this.cidr = subnet.cidr;
      this.routed = [];
    } else {
      const network = new openstack.networking.Network(
        `${name}-net`,
        { name: args.namePrefix, description: "berth: the cluster's private network", adminStateUp: true },
        { parent: this },
      );
      const subnet = new openstack.networking.Subnet(
        `${name}-subnet`,
        {
          name: args.namePrefix,
          description: "berth: the cluster's private subnet",
          networkId: network.id,
          cidr: args.network.cidr.text,
          ipVersion: 4,
          dnsNameservers: args.network.dnsServers,
        },
        { parent: this },
      );
      const router = new openstack.networking.Router(
        `${name}-router`,
        { name: args.namePrefix, description: "berth: the cluster's way out and in (floating IPs)", externalNetworkId: external.id },
        { parent: this },
      );
      const leg = new openstack.networking.RouterInterface(`${name}-router-leg`, { routerId: router.id, subnetId: subnet.id }, { parent: this });
      this.networkId = network.id;
      this.mtu = network.mtu.apply((mtu) => effectiveMtu(args.network.mtu, mtu));
      this.subnetId = subnet.id;
      this.cidr = subnet.cidr;
      this.routed = [leg];
    }
    this.registerOutputs({ networkId: this.networkId, subnetId: this.subnetId, cidr: this.cidr });
  }
}
