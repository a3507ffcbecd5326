import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { ethertype } from "../net.ts";
import { GROUP_ROLES, type GroupRole, type GroupRules } from "../rules.ts";

export interface SecurityGroupsArgs {
  /** Prefix of the groups' OpenStack names. */
  namePrefix: string;
  /** The rule table (rules.ts securityGroupRules): the stack's groups, and every rule of each. */
  rules: GroupRules;
}

const GROUP_DESCRIPTION: Record<GroupRole, string> = {
  manager: "berth manager: SSH bastion and tenant proxy",
  node: "berth docker nodes",
  nfs: "berth NFS server",
  etcd: "berth etcd (the engines' key-value store)",
};

/** One security group per role, filled from the pure rule table. */
export class SecurityGroups extends pulumi.ComponentResource {
  /** The group of each kind of VM the stack has. */
  readonly ids: { [R in GroupRole]?: pulumi.Output<string> };

  constructor(name: string, args: SecurityGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:SecurityGroups", name, {}, opts);
    const roles = GROUP_ROLES.filter((role) => args.rules[role] !== undefined);
    // Groups first, all of them: rules refer to each other's groups as sources.
    const groups = new Map(
      roles.map((role) => [
        role,
        new openstack.networking.SecGroup(`${name}-${role}`, { name: `${args.namePrefix}-${role}`, description: GROUP_DESCRIPTION[role] }, { parent: this }),
      ]),
    );
    const groupOf = (role: GroupRole) => {
      const group = groups.get(role);
      if (!group) throw new Error(`a rule admits the ${role} group, which this stack does not have`);
      return group;
    };
    for (const role of roles) {
      for (const rule of args.rules[role]!) {
        new openstack.networking.SecGroupRule(
          `${name}-${role}-${rule.key}`,
          {
            securityGroupId: groupOf(role).id,
            description: rule.description,
            direction: "ingress",
            ethertype: "cidr" in rule.source ? ethertype(rule.source.cidr) : "IPv4",
            protocol: rule.protocol,
            ...(rule.ports ? { portRangeMin: rule.ports.min, portRangeMax: rule.ports.max } : {}),
            ...("cidr" in rule.source ? { remoteIpPrefix: rule.source.cidr.text } : { remoteGroupId: groupOf(rule.source.group).id }),
          },
          // Every field of a rule is replace-only, and Neutron refuses a second rule that matches an
          // existing one in all but its description: the old rule must go first.
          { parent: this, deleteBeforeReplace: true },
        );
      }
    }
    this.ids = Object.fromEntries(roles.map((role) => [role, groupOf(role).id]));
    this.registerOutputs({ ids: this.ids });
  }
}
