/**
 * The security groups as each machine's firewall, as Neutron applies them at the VM's port: ingress
 * to a machine's addresses is dropped unless a rule of one of its groups admits it (a group as the
 * source means the addresses of the machines in that group); replies are always let through
 * (Neutron's groups are stateful). Pure: machines and rules in, iptables rules of one chain out.
 * The host stands for the world outside the cloud (the operator, tenants): its traffic to the
 * machines goes through OUTPUT, the machines' traffic to each other (bridged, through
 * br_netfilter) through FORWARD; both jump to the same chain.
 */
import type { IngressRule, Machine } from "./graph.ts";

export const FIREWALL_CHAIN = "BERTH-CLOUD";

/** The chain's rules, in order, each as iptables arguments after `-A BERTH-CLOUD`. */
export function firewallRules(machines: Machine[], rulesByGroup: Map<string, IngressRule[]>): string[][] {
  const addressesOf = (machine: Machine) => [machine.address, ...(machine.floatingAddress ? [machine.floatingAddress] : [])];
  const inGroup = (groupId: string) => machines.filter((machine) => machine.securityGroupIds.includes(groupId)).flatMap(addressesOf);
  const rules: string[][] = [["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]];
  for (const machine of machines) {
    for (const destination of addressesOf(machine)) {
      for (const rule of machine.securityGroupIds.flatMap((id) => rulesByGroup.get(id) ?? [])) {
        const sources = "cidr" in rule.from ? [rule.from.cidr] : inGroup(rule.from.groupId);
        const protocol = rule.protocol ? ["-p", rule.protocol] : [];
        const ports =
          rule.ports && rule.protocol !== "icmp"
            ? ["--dport", rule.ports.min === rule.ports.max ? `${rule.ports.min}` : `${rule.ports.min}:${rule.ports.max}`]
            : [];
        for (const source of sources)
          rules.push([
            "-s",
            source,
            "-d",
            destination,
            ...protocol,
            ...ports,
            "-m",
            "comment",
            "--comment",
            `${machine.name}: ${rule.description}`.slice(0, 255),
            "-j",
            "ACCEPT",
          ]);
      }
      rules.push(["-d", destination, "-m", "comment", "--comment", `${machine.name}: not admitted by its security groups`, "-j", "DROP"]);
    }
  }
  return rules;
}
