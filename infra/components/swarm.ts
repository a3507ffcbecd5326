import { remote, type types } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { swarmScriptFor } from "../roles.ts";
import type { SwarmNode } from "../render.ts";
import { type Provisioner, sha256 } from "./provisioner.ts";

export interface SwarmArgs {
  /** SSH to the manager VM, the bastion: it alone reaches every engine's API, which the script drives. */
  connection: pulumi.Input<types.input.remote.ConnectionArgs>;
  /** The nodes in berth:nodes order: the first initialises the swarm and manages it, the others join as workers. */
  nodes: pulumi.Input<SwarmNode[]>;
  /** berth:overlayAddressPool: where the swarm takes its overlays' subnets from, given when it is made. */
  addressPool: string;
  /**
   * The nodes' provisioning: the swarm forms once every engine runs, and again whenever one of them
   * runs again (a rebuilt node is a new engine, outside the swarm until it joins).
   */
  nodesProvisioned: Provisioner[];
  /** The manager VM and its image: a rebuilt manager VM forms (finds) the swarm again. */
  instanceId: pulumi.Input<string>;
  builtFrom: pulumi.Input<string>;
}

/**
 * The current line's swarm (templates/swarm.sh.hbs), formed from the manager VM over the engines'
 * API. The join token is read and used inside the script on the manager: it is in no output, no
 * log and no state, so it has nothing to keep secret outside the cluster.
 */
export class Swarm extends pulumi.ComponentResource {
  /** What the script did: which nodes joined, and that every one is ready. */
  readonly log: pulumi.Output<string>;
  readonly command: remote.Command;

  constructor(name: string, args: SwarmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:Swarm", name, {}, opts);
    const script = pulumi.output(args.nodes).apply((nodes) => swarmScriptFor(nodes, args.addressPool));
    this.command = new remote.Command(
      `${name}-form`,
      {
        connection: args.connection,
        create: "sudo bash -s",
        stdin: script,
        triggers: [args.instanceId, args.builtFrom, script.apply(sha256), ...args.nodesProvisioned.map((node) => node.command.id)],
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: args.nodesProvisioned },
    );
    this.log = this.command.stdout;
    this.registerOutputs({ log: this.log });
  }
}
