import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { ethertype } from "../net.ts";
import { GROUP_ROLES, type GroupRole, type RuleSpec } from "../rules.ts";

export interface SecurityGroupsArgs {
  /** Prefix of the groups' OpenStack names. */
  namePrefix: string;
  /** The rule table (rules.ts securityGroupRules): every rule of every group. */
  rules: Record<GroupRole, RuleSpec[]>;
}

const GROUP_DESCRIPTION: Record<GroupRole, string> = {
  manager: "berth manager: SSH bastion and tenant proxy",
  node: "berth docker nodes",
  nfs: "berth NFS server",
  etcd: "berth etcd (the engines' key-value store)",
};

/** One security group per role, filled from the pure rule table. */
export class SecurityGroups extends pulumi.ComponentResource {
  readonly ids: Record<GroupRole, pulumi.Output<string>>;

  constructor(name: string, args: SecurityGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:SecurityGroups", name, {}, opts);
    // Groups first, all of them: rules refer to each other's groups as sources.
    const groups = Object.fromEntries(
      GROUP_ROLES.map((role) => [
        role,
        new openstack.networking.SecGroup(`${name}-${role}`, { name: `${args.namePrefix}-${role}`, description: GROUP_DESCRIPTION[role] }, { parent: this }),
      ]),
    ) as Record<GroupRole, openstack.networking.SecGroup>;
    for (const role of GROUP_ROLES) {
      for (const rule of args.rules[role]) {
        new openstack.networking.SecGroupRule(
          `${name}-${role}-${rule.key}`,
          {
            securityGroupId: groups[role].id,
            description: rule.description,
            direction: "ingress",
            ethertype: "cidr" in rule.source ? ethertype(rule.source.cidr) : "IPv4",
            protocol: rule.protocol,
            ...(rule.ports ? { portRangeMin: rule.ports.min, portRangeMax: rule.ports.max } : {}),
            ...("cidr" in rule.source ? { remoteIpPrefix: rule.source.cidr.text } : { remoteGroupId: groups[rule.source.group].id }),
          },
          // Every field of a rule is replace-only, and Neutron refuses a second rule that matches an
          // existing one in all but its description: the old rule must go first.
          { parent: this, deleteBeforeReplace: true },
        );
      }
    }
    this.ids = Object.fromEntries(GROUP_ROLES.map((role) => [role, groups[role].id])) as Record<GroupRole, pulumi.Output<string>>;
    this.registerOutputs({ ids: this.ids });
  }
}
