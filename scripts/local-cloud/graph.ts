/**
 * What the program declared, read from one recorded run under mocks (scripts/lib/mock-cloud.ts):
 * the machines (every server with its port's address, floating address, role, user data and the
 * rules of its security groups) and the commands `pulumi up` would run, in the engine's dependency
 * order. Pure: recorded resources in, plain records out.
 */
import type { RecordedResource } from "../lib/mock-cloud.ts";
import { planChanges } from "../lib/provider-rules.ts";

const INSTANCE = "openstack:compute/instance:Instance";
const PORT = "openstack:networking/port:Port";
const FLOATING_IP_ASSOCIATE = "openstack:networking/floatingIpAssociate:FloatingIpAssociate";
const KEYPAIR = "openstack:compute/keypair:Keypair";
const SECURITY_GROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule";
export const COMMAND = "command:remote:Command";
export const COPY = "command:remote:CopyToRemote";

/** One ingress rule of a security group, as Neutron holds it. */
export interface IngressRule {
  description: string;
  protocol?: string;
  ports?: { min: number; max: number };
  /** A CIDR, or the id of the security group the traffic must come from. */
  from: { cidr: string } | { groupId: string };
}

export interface Machine {
  /** The server name (the machine's name and hostname). */
  name: string;
  role: string;
  /** The server's image id (in the local cloud, the image's name: cloud.ts). */
  imageId: string;
  address: string;
  /** The floating address associated with its port, if any. */
  floatingAddress?: string;
  userData: string;
  /** The Nova key pair's public key, which the metadata service gives the VM. */
  publicKeys: string[];
  securityGroupIds: string[];
}

export interface Command {
  urn: string;
  name: string;
  kind: "command" | "copy";
  inputs: Record<string, any>;
  /** URNs of the commands that must have run before this one. */
  after: string[];
}

/** The mocks give every resource the id `<name>-id` (mock-cloud.ts), so ids resolve back to resources. */
const byId = (resources: RecordedResource[]) => new Map(resources.map((resource) => [`${resource.name}-id`, resource]));

export function machinesOf(resources: RecordedResource[]): Machine[] {
  const ids = byId(resources);
  const keyPairs = new Map(resources.filter((r) => r.type === KEYPAIR).map((r) => [r.inputs.name as string, (r.inputs.publicKey as string).trim()]));
  const floating = new Map(resources.filter((r) => r.type === FLOATING_IP_ASSOCIATE).map((r) => [r.inputs.portId as string, r.inputs.floatingIp as string]));
  return resources
    .filter((resource) => resource.type === INSTANCE)
    .map((server) => {
      const portId: string | undefined = server.inputs.networks?.[0]?.port;
      const port = portId ? ids.get(portId) : undefined;
      if (!port || port.type !== PORT) throw new Error(`${server.name}: no port among the recorded resources (${portId})`);
      const address: string | undefined = port.outputs.allFixedIps?.[0];
      if (!address) throw new Error(`${server.name}: its port has no address`);
      const floatingAddress = floating.get(portId!);
      const publicKey = keyPairs.get(server.inputs.keyPair);
      if (!publicKey) throw new Error(`${server.name}: its key pair ${server.inputs.keyPair} is not among the recorded resources`);
      return {
        name: server.inputs.name as string,
        role: (server.inputs.metadata?.["berth-role"] as string) ?? "unknown",
        imageId: server.inputs.imageId as string,
        address,
        ...(floatingAddress ? { floatingAddress } : {}),
        userData: server.inputs.userData as string,
        publicKeys: [publicKey],
        securityGroupIds: (port.inputs.securityGroupIds ?? []) as string[],
      };
    });
}

/** Every group's ingress rules, by group id. */
export function rulesByGroup(resources: RecordedResource[]): Map<string, IngressRule[]> {
  const rules = new Map<string, IngressRule[]>();
  for (const rule of resources.filter((r) => r.type === SECURITY_GROUP_RULE)) {
    const { securityGroupId, description, protocol, portRangeMin, portRangeMax, remoteIpPrefix, remoteGroupId, direction } = rule.inputs;
    if (direction !== "ingress") throw new Error(`${rule.name}: only ingress rules are modelled, not ${direction}`);
    const list = rules.get(securityGroupId) ?? [];
    list.push({
      description,
      ...(protocol ? { protocol } : {}),
      ...(portRangeMin !== undefined ? { ports: { min: portRangeMin, max: portRangeMax ?? portRangeMin } } : {}),
      from: remoteGroupId ? { groupId: remoteGroupId } : { cidr: remoteIpPrefix ?? "0.0.0.0/0" },
    });
    rules.set(securityGroupId, list);
  }
  return rules;
}

/**
 * The commands in an order the engine could run them: a resource waits for everything it depends
 * on, and a dependency on a component resource is a dependency on all of its descendants (as the
 * engine expands it). Resources that are not commands are done as soon as they are declared, so
 * only commands order each other, through any chain of resources.
 */
export function commandsInOrder(resources: RecordedResource[]): Command[] {
  const byUrn = new Map(resources.map((resource) => [resource.urn, resource]));
  const children = new Map<string, string[]>();
  for (const resource of resources) children.set(resource.parent, [...(children.get(resource.parent) ?? []), resource.urn]);
  const descendants = (urn: string): string[] => (children.get(urn) ?? []).flatMap((child) => [child, ...descendants(child)]);
  const directDependencies = (resource: RecordedResource) =>
    new Set([...resource.dependencies, ...Object.values(resource.propertyDependencies).flat()].flatMap((urn) => [urn, ...descendants(urn)]));
  const isCommand = (resource: RecordedResource) => resource.type === COMMAND || resource.type === COPY;

  const commandsBefore = new Map<string, Set<string>>();
  const prerequisites = (urn: string, visiting = new Set<string>()): Set<string> => {
    const known = commandsBefore.get(urn);
    if (known) return known;
    if (visiting.has(urn)) throw new Error(`a dependency cycle through ${urn}`);
    visiting.add(urn);
    const found = new Set<string>();
    const resource = byUrn.get(urn);
    for (const dependency of resource ? directDependencies(resource) : []) {
      const other = byUrn.get(dependency);
      if (!other || dependency === urn) continue;
      if (isCommand(other)) found.add(dependency);
      for (const earlier of prerequisites(dependency, visiting)) found.add(earlier);
    }
    visiting.delete(urn);
    commandsBefore.set(urn, found);
    return found;
  };

  const commands = resources.filter(isCommand);
  const ordered: Command[] = [];
  const placed = new Set<string>();
  while (ordered.length < commands.length) {
    const ready = commands.filter((c) => !placed.has(c.urn) && [...prerequisites(c.urn)].every((urn) => placed.has(urn)));
    if (ready.length === 0) throw new Error("the commands' dependencies form a cycle");
    for (const command of ready.sort((a, b) => a.name.localeCompare(b.name))) {
      placed.add(command.urn);
      ordered.push({
        urn: command.urn,
        name: command.name,
        kind: command.type === COPY ? "copy" : "command",
        inputs: command.inputs,
        after: [...prerequisites(command.urn)],
      });
    }
  }
  return ordered;
}

/**
 * The commands this run must run: those never run to success, and those the engine would update or
 * replace given the inputs of their last successful run (a changed trigger replaces; any other
 * changed input is an update, and pulumi-command runs `create` again for an update without its own
 * `update` command). `previous`: the recorded resources of the commands' last successful runs.
 */
export function commandsToRun(commands: Command[], current: RecordedResource[], previous: RecordedResource[]): Set<string> {
  const plan = planChanges(previous, current);
  const ran = new Set(previous.map((resource) => resource.urn));
  return new Set(commands.filter((command) => !ran.has(command.urn) || (plan.get(command.name) ?? "same") !== "same").map((command) => command.urn));
}

/** The commands that run on one of `machines` (their connection's host is its address). */
export function commandsOn(commands: Command[], machines: Machine[]): Set<string> {
  const addresses = new Set(machines.flatMap((machine) => [machine.address, ...(machine.floatingAddress ? [machine.floatingAddress] : [])]));
  return new Set(commands.filter((command) => addresses.has(command.inputs.connection?.host)).map((command) => command.urn));
}
