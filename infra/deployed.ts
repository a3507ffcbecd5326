/**
 * Checks of the configuration against what the stack already deployed, read from the cloud before
 * any resource is registered. Only what a config change cannot do in place is checked: the NFS data
 * volume cannot shrink (Cinder only extends) and cannot change type without being replaced by an
 * empty one (volume_type is replace-only in terraform-provider-openstack v1.54.1, and the program
 * ignores it after creation, so without this check a new type would silently not apply). Nor can
 * a running stack change its engine line: its servers keep the image they were built from, so the
 * nodes would stay Debian 12's 20.10 engines (or Debian 13's) under the other line's settings.
 * And what only the cloud knows: an existing network's range, which no address pool may overlap.
 */
import * as openstack from "@pulumi/openstack";
import { ConfigError, type BerthConfig, type ConfigIssue } from "./config.ts";
import type { EngineLine } from "./engine-line.ts";
import { dataVolumeName } from "./components/host.ts";
import { etcdServerName, nfsServerName } from "./cluster.ts";
import { cidrsOverlap, parseCidr } from "./net.ts";

export interface DeployedVolume {
  name: string;
  size: number;
  volumeType: string;
}

/** What the configuration asks of the deployed data volume that the volume cannot do. Pure. */
export function dataVolumeProblems(config: BerthConfig, deployed: DeployedVolume | undefined): ConfigIssue[] {
  if (!deployed) return [];
  const problems: ConfigIssue[] = [];
  const { dataVolumeSize, dataVolumeType } = config.nfs;
  if (dataVolumeSize < deployed.size) {
    problems.push({
      key: "berth:nfs.dataVolumeSize",
      message: `the data volume ${deployed.name} has ${deployed.size} GB and cannot shrink (Cinder only extends): set ${deployed.size} or more`,
    });
  }
  if (dataVolumeType !== undefined && dataVolumeType !== deployed.volumeType) {
    problems.push({
      key: "berth:nfs.dataVolumeType",
      message:
        `the data volume ${deployed.name} is of type ${deployed.volumeType}, and a new type would mean a new, empty volume. ` +
        `To move the data to ${dataVolumeType}: \`openstack volume set --type ${dataVolumeType} --retype-policy on-demand ${deployed.name}\` ` +
        `(Cinder migrates it), then \`pulumi refresh\`; or set the key back to ${deployed.volumeType}`,
    });
  }
  return problems;
}

/** The stack's data volume as Cinder reports it; undefined before the first `pulumi up` created it. */
async function deployedDataVolume(config: BerthConfig): Promise<DeployedVolume | undefined> {
  const name = dataVolumeName(nfsServerName(config.namePrefix));
  try {
    const volume = await openstack.blockstorage.getVolumeV3({ name });
    return { name, size: volume.size, volumeType: volume.volumeType };
  } catch (error) {
    // The data source's words for "none" (data_source_openstack_blockstorage_volume_v3.go); two
    // volumes of that name, or any other failure, stop the run.
    if (/returned no results/.test(String((error as Error).message ?? error))) return undefined;
    throw error;
  }
}

/**
 * The engine line the stack runs, read from its ports (a port keeps its server's name, and outlives a
 * rebuilt server): an etcd VM means 20.10, nodes without one the current line; none, a first `up`.
 */
export type DeployedLine = EngineLine | undefined;

/** What a change of engine line would do to a running stack, refused with the way that works. Pure. */
export function engineLineProblems(config: BerthConfig, deployed: DeployedLine): ConfigIssue[] {
  if (deployed === undefined || deployed === config.engineLine) return [];
  return [
    {
      key: "berth:engineLine",
      message:
        `this stack runs the ${deployed} line (${deployedLineEvidence(config, deployed)}), ` +
        `and a running stack cannot change line: its servers keep the image they were built from, so its engines would stay ${deployed === "20.10" ? "Docker 20.10" : "Debian 13's"}. ` +
        `Stand the ${config.engineLine} line up as a new stack (\`pulumi stack init\`), move the tenants to it, then \`pulumi destroy\` this one; or set berth:engineLine back to "${deployed}"`,
    },
  ];
}

/** The ports the line was read from, named so that an operator can look at them (`openstack port show`). */
function deployedLineEvidence(config: BerthConfig, deployed: EngineLine): string {
  const etcd = etcdServerName(config.namePrefix);
  return deployed === "20.10"
    ? `this project has the port ${etcd} of its etcd VM`
    : `this project has the port ${firstNodePortName(config)} of its first node and none named ${etcd}`;
}

function firstNodePortName(config: BerthConfig): string {
  return `${config.namePrefix}-${config.nodes[0]!.name}`;
}

/**
 * Whether the stack's project has a port of this name. getPortIds (terraform-provider-openstack
 * v1.54.1) lists by exact name, an empty list for none, and without a project every port the
 * credentials see: an admin's see every project's, where another stack may use the same names.
 */
async function portExists(name: string, projectId: string): Promise<boolean> {
  return (await openstack.networking.getPortIds({ name, projectId })).ids.length > 0;
}

async function deployedLine(config: BerthConfig): Promise<DeployedLine> {
  // The project the stack's credentials are scoped to, where its ports are made.
  const { projectId } = await openstack.identity.getAuthScope({ name: "berth-deployed-line" });
  const [etcd, firstNode] = await Promise.all([portExists(etcdServerName(config.namePrefix), projectId), portExists(firstNodePortName(config), projectId)]);
  return etcd ? "20.10" : firstNode ? "current" : undefined;
}

/**
 * The address pools over an existing network's subnet, whose range parseConfig cannot know (it
 * refuses the same for a new network): a container network from such a pool shadows the nodes'
 * network in every container on it. Pure.
 */
export function existingSubnetProblems(config: BerthConfig, subnet: { id: string; cidr: string } | undefined): ConfigIssue[] {
  const range = subnet && parseCidr(subnet.cidr);
  if (!subnet || !range) return [];
  const pools = [
    { key: "containerAddressPool", pool: config.containerAddressPool, what: "container networks" },
    ...(config.overlayAddressPool ? [{ key: "overlayAddressPool", pool: config.overlayAddressPool, what: "overlay networks" }] : []),
  ];
  return pools
    .filter(({ pool }) => cidrsOverlap(pool, range))
    .map(({ key, pool, what }) => ({
      key: `berth:${key}`,
      message: `${pool.text} overlaps the existing subnet ${subnet.id} (${range.text}): choose another range for ${what}`,
    }));
}

/** The existing network's subnet as Neutron reports it; none for a network the stack makes. */
async function existingSubnet(config: BerthConfig): Promise<{ id: string; cidr: string } | undefined> {
  if (config.network.kind !== "existing") return undefined;
  const { subnetId, networkId } = config.network;
  const subnet = await openstack.networking.getSubnet({ subnetId, networkId });
  return { id: subnetId, cidr: subnet.cidr };
}

/** Throws ConfigError when the configuration asks what the deployed stack cannot do. */
export async function checkAgainstCloud(config: BerthConfig): Promise<void> {
  const [volume, line, subnet] = await Promise.all([deployedDataVolume(config), deployedLine(config), existingSubnet(config)]);
  const problems = [...dataVolumeProblems(config, volume), ...engineLineProblems(config, line), ...existingSubnetProblems(config, subnet)];
  if (problems.length > 0) throw new ConfigError(problems);
}
