/**
 * What must never ship, checked on every resource before Pulumi creates or changes it:
 *
 * - the cluster's own ports (engine API, etcd, NFS, overlay) open to an address range: only the
 *   cluster's security groups may reach them;
 * - SSH or the tenant proxy open to the whole internet, unless the operator says so in the pack's
 *   configuration (allowWholeInternet), as the stack's own berth:allowWholeInternet does;
 * - a security group or rule without a description;
 * - a VM that is not behind a security group.
 *
 * The rules read resource properties only, so they judge any program, not just berth's.
 */
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { isWholeInternet, parseCidr } from "../net.ts";
import { CLUSTER_ONLY_PORTS, DEFAULT_PROXY_PORT, SSH_PORT } from "../ports.ts";

export const TYPES = {
  group: "openstack:networking/secGroup:SecGroup",
  rule: "openstack:networking/secGroupRule:SecGroupRule",
  port: "openstack:networking/port:Port",
  instance: "openstack:compute/instance:Instance",
} as const;

interface RuleProps {
  direction?: string;
  protocol?: string;
  portRangeMin?: number;
  portRangeMax?: number;
  remoteIpPrefix?: string;
  remoteGroupId?: string;
  description?: string;
}

/** Whether an ingress rule admits TCP or UDP traffic to `port` (no protocol or range: every port). */
function admits(rule: RuleProps, port: number): boolean {
  if (rule.direction !== "ingress") return false;
  const protocol = (rule.protocol ?? "").toLowerCase();
  if (!["", "any", "tcp", "udp", "6", "17"].includes(protocol)) return false;
  if (rule.portRangeMin === undefined && rule.portRangeMax === undefined) return true;
  return (rule.portRangeMin ?? 1) <= port && port <= (rule.portRangeMax ?? 65535);
}

/** The range a rule admits, or undefined when it names a security group. Neutron reads "no remote" as everyone. */
function sourceRange(rule: RuleProps): string | undefined {
  if (rule.remoteGroupId) return undefined;
  return rule.remoteIpPrefix || "everyone (no remote given)";
}

function isWorld(range: string): boolean {
  const cidr = parseCidr(range);
  return cidr === undefined || isWholeInternet(cidr);
}

const ofType =
  (type: string, validate: (props: any, report: ReportViolation, args: ResourceValidationArgs) => void) =>
  (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type === type) validate(args.props, report, args);
  };

export interface WorldOpenConfig {
  allowWholeInternet: boolean;
  proxyPort: number;
}

export const policies: ResourceValidationPolicy[] = [
  {
    name: "cluster-ports-only-from-cluster-groups",
    description: "The engine API, etcd, NFS and overlay ports admit only the cluster's security groups, never an address range.",
    enforcementLevel: "mandatory",
    validateResource: ofType(TYPES.rule, (rule: RuleProps, report) => {
      const range = sourceRange(rule);
      if (range === undefined) return;
      for (const { port, service } of CLUSTER_ONLY_PORTS) {
        if (admits(rule, port)) report(`opens ${service} (port ${port}) to ${range}: the cluster's own ports admit only the cluster's security groups`);
      }
    }),
  },
  {
    name: "ssh-and-proxy-not-world-open",
    description: "SSH and the tenant proxy are not open to the whole internet, unless the pack's configuration allows it.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        allowWholeInternet: { type: "boolean", default: false },
        proxyPort: { type: "integer", default: DEFAULT_PROXY_PORT },
      },
    },
    validateResource: ofType(TYPES.rule, (rule: RuleProps, report, args) => {
      // The engine fills in the schema's defaults only when it configures the pack: not always.
      const config = args.getConfig<Partial<WorldOpenConfig>>();
      const range = sourceRange(rule);
      if (config.allowWholeInternet || range === undefined || !isWorld(range)) return;
      for (const [port, service] of [
        [SSH_PORT, "SSH"],
        [config.proxyPort ?? DEFAULT_PROXY_PORT, "the tenant proxy"],
      ] as const) {
        if (admits(rule, port))
          report(`opens ${service} (port ${port}) to ${range}: allow your own ranges, or set allowWholeInternet in this pack's configuration`);
      }
    }),
  },
  {
    name: "every-rule-described",
    description: "Every security group and every rule says what it is for.",
    enforcementLevel: "mandatory",
    validateResource: [
      ofType(TYPES.rule, (rule: RuleProps, report) => {
        if (!rule.description?.trim()) report("a security-group rule without a description: say what it admits and why");
      }),
      ofType(TYPES.group, (group: { description?: string }, report) => {
        if (!group.description?.trim()) report("a security group without a description");
      }),
    ],
  },
  {
    name: "every-vm-behind-a-security-group",
    description: "Every VM is attached through ports with a security group, or lists its security groups.",
    enforcementLevel: "mandatory",
    validateResource: [
      ofType(TYPES.instance, (instance: { securityGroups?: string[]; networks?: Array<{ port?: string }> }, report) => {
        const networks = instance.networks ?? [];
        const throughPorts = networks.length > 0 && networks.every((network) => network.port);
        if (!throughPorts && !instance.securityGroups?.length) {
          report("a VM on a network without a port of its own and without security groups: it would get the project's default group");
        }
      }),
      ofType(TYPES.port, (port: { securityGroupIds?: string[]; noSecurityGroups?: boolean; portSecurityEnabled?: boolean }, report) => {
        if (port.noSecurityGroups || port.portSecurityEnabled === false || !port.securityGroupIds?.length) {
          report("a port without a security group (or with port security off)");
        }
      }),
    ],
  },
];
