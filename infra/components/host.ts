import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import type { Role } from "../render.ts";

export interface HostArgs {
  /** What the VM is for; tags the server and its port. */
  role: Role;
  /** The OpenStack server name. */
  serverName: string;
  flavor: string;
  imageId: pulumi.Input<string>;
  /** Boot volume size in GB; 0 boots from the flavor's ephemeral disk. */
  volumeSize: number;
  networkId: pulumi.Input<string>;
  subnetId: pulumi.Input<string>;
  /** A fixed private address; Neutron picks one otherwise. */
  fixedIp?: string;
  /** The groups on the VM's port: its role's group. */
  securityGroupIds: pulumi.Input<string>[];
  keyPairName: pulumi.Input<string>;
  /**
   * The first-boot user data, given what exists before the server: its port (so a VM's own
   * configuration can name the address it will have) and its data volume.
   */
  userData: (before: { privateAddress: pulumi.Output<string>; dataVolumeId?: pulumi.Output<string> }) => pulumi.Input<string>;
  /** The external network to take a floating IP from; none when absent. */
  floatingIpPool?: string;
  /** What the floating IP's association waits for (the router's leg on the subnet). */
  routed?: pulumi.Resource[];
  /** A data volume attached at boot (so cloud-init finds it), kept apart from the boot disk. */
  dataVolume?: { size: number; type?: string };
}

/** The OpenStack name of a server's data volume. */
export const dataVolumeName = (serverName: string) => `${serverName}-data`;

/**
 * One VM: its port (with the role's security group and the private address), the server, an
 * optional data volume and an optional floating IP.
 *
 * The server ignores later changes to its user data: OpenStack can only apply new user data by
 * rebuilding the server, which would take a node's containers or the NFS server's clients with it.
 * The provisioning command rewrites the same files on every run instead, so a server keeps the
 * user data of its first boot and still ends up with the current files.
 */
export class Host extends pulumi.ComponentResource {
  readonly privateAddress: pulumi.Output<string>;
  readonly publicAddress?: pulumi.Output<string>;
  readonly instanceId: pulumi.Output<string>;
  /**
   * The image the cloud says the server runs (on a boot volume, the provider's fixed text): a
   * rebuild outside Pulumi shows here once refreshed, and provisioning runs again.
   */
  readonly builtFrom: pulumi.Output<string>;
  readonly portId: pulumi.Output<string>;
  /** The floating IP's association, once the address routes to the VM. */
  readonly reachable: pulumi.Resource[];
  readonly dataVolumeId?: pulumi.Output<string>;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:Host", name, {}, opts);
    const tags = ["berth", `berth-role-${args.role}`];
    const port = new openstack.networking.Port(
      `${name}-port`,
      {
        name: args.serverName,
        description: `berth ${args.role} ${args.serverName}`,
        networkId: args.networkId,
        fixedIps: [{ subnetId: args.subnetId, ...(args.fixedIp ? { ipAddress: args.fixedIp } : {}) }],
        securityGroupIds: args.securityGroupIds,
        adminStateUp: true,
        tags,
      },
      { parent: this },
    );
    this.portId = port.id;
    this.privateAddress = port.allFixedIps.apply((addresses) => {
      const address = addresses[0];
      if (!address) throw new Error(`${args.serverName}: its port has no fixed address`);
      return address;
    });

    const dataVolume = args.dataVolume
      ? new openstack.blockstorage.Volume(
          `${name}-data`,
          {
            name: dataVolumeName(args.serverName),
            description: `berth ${args.role} data (${args.serverName})`,
            size: args.dataVolume.size,
            ...(args.dataVolume.type ? { volumeType: args.dataVolume.type } : {}),
            // Growing an attached volume needs this (resource_openstack_blockstorage_volume_v3.go);
            // the NFS server's disk script grows the filesystem on the next provisioning.
            enableOnlineResize: true,
          },
          // The data outlives every config change: a changed volume_type would replace it (ForceNew),
          // so the type is read only at creation (retype with `openstack volume set --type
          // --retype-policy on-demand`); protect makes the engine refuse any replace or delete, so
          // `pulumi destroy` needs `pulumi state unprotect` first (README).
          { parent: this, protect: true, ignoreChanges: ["volumeType"] },
        )
      : undefined;
    const bootDevice =
      args.volumeSize > 0
        ? { uuid: args.imageId, sourceType: "image", destinationType: "volume", volumeSize: args.volumeSize, bootIndex: 0, deleteOnTermination: true }
        : { uuid: args.imageId, sourceType: "image", destinationType: "local", bootIndex: 0, deleteOnTermination: true };
    const dataDevice = dataVolume ? [{ uuid: dataVolume.id, sourceType: "volume", destinationType: "volume", bootIndex: -1, deleteOnTermination: false }] : [];
    const instance = new openstack.compute.Instance(
      `${name}-server`,
      {
        name: args.serverName,
        flavorName: args.flavor,
        // The provider needs an image for an image -> local root disk even when block devices are
        // listed (getImageIDFromConfig); for a boot volume it takes the image from the device.
        ...(args.volumeSize > 0 ? {} : { imageId: args.imageId }),
        ...(args.volumeSize > 0 || dataVolume ? { blockDevices: [bootDevice, ...dataDevice] } : {}),
        keyPair: args.keyPairName,
        networks: [{ port: port.id }],
        userData: args.userData({ privateAddress: this.privateAddress, ...(dataVolume ? { dataVolumeId: dataVolume.id } : {}) }),
        metadata: { "berth-role": args.role },
        tags,
      },
      {
        parent: this,
        // What the server was built from is kept: user data, image, boot disk and key pair are read
        // at creation only. A changed image_id would make Nova rebuild the server in place (same id,
        // root disk wiped: etcd's data, a node's containers, the proxy), and block_device, user_data
        // and key_pair are replace-only (resource_openstack_compute_instance_v2.go v1.54.1). A new
        // image (or boot volume size) reaches a server when the operator rebuilds it on purpose:
        // `pulumi up --replace <server urn>`, which gives a new id and so provisions it again.
        ignoreChanges: ["userData", "imageId", "imageName", "blockDevices", "keyPair"],
        // A volume attaches to one server at a time: the old server must let go of it first.
        deleteBeforeReplace: dataVolume !== undefined,
      },
    );
    this.instanceId = instance.id;
    this.builtFrom = instance.imageId;
    this.dataVolumeId = dataVolume?.id;

    const reachable: pulumi.Resource[] = [];
    if (args.floatingIpPool) {
      const floatingIp = new openstack.networking.FloatingIp(
        `${name}-fip`,
        { pool: args.floatingIpPool, description: `berth ${args.role} ${args.serverName}`, tags },
        { parent: this },
      );
      const association = new openstack.networking.FloatingIpAssociate(
        `${name}-fip-assoc`,
        { floatingIp: floatingIp.address, portId: port.id },
        { parent: this, dependsOn: args.routed ?? [] },
      );
      this.publicAddress = floatingIp.address;
      reachable.push(association);
    }
    this.reachable = reachable;
    this.registerOutputs({ privateAddress: this.privateAddress, publicAddress: this.publicAddress, instanceId: this.instanceId });
  }
}
