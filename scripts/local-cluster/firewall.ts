/**
 * The OpenStack security groups, emulated: each host namespace's INPUT chain admits on eth0 (its
 * "VM port") exactly what infra/rules.ts's table admits for its role, with a group source expanded
 * to the addresses of that group's hosts, and drops the rest. The operator and the tenants are the
 * root namespace (the bridge's address), so the engines' API answers the manager only, as on
 * OpenStack. One local rule is added: Keystone, which on OpenStack is the cloud's public
 * endpoint, lives on the manager here and is admitted from the operator. Published container
 * ports are forwarded by dockerd's own chains, not INPUT, so they are not filtered here.
 */
import type { Cidr } from "../../infra/net.ts";
import { parseCidr } from "../../infra/net.ts";
import { securityGroupRules, type GroupRole, type GroupRules, type RuleSpec } from "../../infra/rules.ts";

export interface FirewallHost {
  role: GroupRole;
  address: string;
}

export interface FirewallInput {
  hosts: FirewallHost[];
  /** The root namespace's address on the bridge: where the operator and tenants come from. */
  operatorAddress: string;
  proxyPort: number;
  keystonePort: number;
}

const COMMENT_PREFIX = "berth security group";

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed) throw new Error(`${text} is not a CIDR`);
  return parsed;
}

/** The rule table as OpenStack would get it for this cluster. */
export function localRuleTable(input: FirewallInput): GroupRules {
  const operator = [cidr(`${input.operatorAddress}/32`)];
  // The local cluster runs the 20.10 line (etcd among its daemons).
  const table = securityGroupRules({ sshCidrs: operator, proxyCidrs: operator, containerCidrs: operator, proxyPort: input.proxyPort, line: "20.10" });
  const keystone: RuleSpec = {
    key: "keystone-tcp-from-operator",
    description: "Keystone (the cloud's public endpoint on OpenStack), from the operator",
    protocol: "tcp",
    ports: { min: input.keystonePort, max: input.keystonePort },
    source: { cidr: operator[0]! },
  };
  return { ...table, manager: [...(table.manager ?? []), keystone] };
}

/** iptables argv (without `iptables`) for one host's namespace, in order. */
export function securityGroupCommands(host: FirewallHost, input: FirewallInput): string[][] {
  const rules = localRuleTable(input)[host.role];
  if (!rules) throw new Error(`the local cluster has no ${host.role} group`);
  const sources = (rule: RuleSpec) =>
    "cidr" in rule.source
      ? [rule.source.cidr.text]
      : input.hosts.filter((other) => other.role === (rule.source as { group: GroupRole }).group).map((other) => `${other.address}/32`);
  const admit = rules.flatMap((rule) =>
    sources(rule).map((source) => [
      "-A",
      "INPUT",
      "-i",
      "eth0",
      "-s",
      source,
      "-p",
      rule.protocol,
      ...(rule.ports ? ["--dport", rule.ports.min === rule.ports.max ? String(rule.ports.min) : `${rule.ports.min}:${rule.ports.max}`] : []),
      "-m",
      "comment",
      "--comment",
      `${COMMENT_PREFIX}: ${rule.description}`.slice(0, 255),
      "-j",
      "ACCEPT",
    ]),
  );
  return [
    ["-A", "INPUT", "-i", "eth0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
    ...admit,
    ["-A", "INPUT", "-i", "eth0", "-m", "comment", "--comment", `${COMMENT_PREFIX}: everything else`, "-j", "DROP"],
  ];
}
