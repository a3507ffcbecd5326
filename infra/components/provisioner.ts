import { remote, types } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";

/** How `pulumi up` logs in: the VMs' user and the stack's private key. */
export interface SshAccess {
  user: string;
  /** Secret. */
  privateKey: pulumi.Input<string>;
}

/**
 * A node reboots once on its first boot (kernel settings) and every VM takes a while to start
 * sshd: keep dialling for about ten minutes before giving up.
 */
const DIAL = { dialErrorLimit: 60, perDialTimeout: 10 };

function credentials(access: SshAccess, host: pulumi.Input<string>) {
  return {
    host,
    user: access.user,
    ...DIAL,
    privateKey: access.privateKey,
  };
}

/** SSH to `host`, through `bastion` when given (every VM but the manager admits SSH only from it). */
export function sshConnection(access: SshAccess, host: pulumi.Input<string>, bastion?: pulumi.Input<string>): types.input.remote.ConnectionArgs {
  return { ...credentials(access, host), ...(bastion !== undefined ? { proxy: credentials(access, bastion) } : {}) };
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export interface ProvisionerArgs {
  /** Where to run: the VM's address, and the bastion unless the VM is the bastion. */
  connection: pulumi.Input<types.input.remote.ConnectionArgs>;
  /** The VM and the image it runs (Host.builtFrom): a rebuilt VM is provisioned again. */
  instanceId: pulumi.Input<string>;
  builtFrom: pulumi.Input<string>;
  /** The provisioning script (roles.ts provisionScriptFor), run as root. */
  script: pulumi.Input<string>;
  /** What must be provisioned before this VM (etcd and NFS before the engines, ...). */
  after?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Runs a VM's provisioning script through SSH. The script travels on stdin and its hash is a
 * trigger, so the command runs again exactly when the script (that is, any file, check or
 * service it carries) or the VM changes. The script is idempotent, so a re-run is always safe.
 */
export class Provisioner extends pulumi.ComponentResource {
  /** The script's output: what it changed and which checks passed. */
  readonly log: pulumi.Output<string>;
  readonly command: remote.Command;

  constructor(name: string, args: ProvisionerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:infra:Provisioner", name, {}, opts);
    const script = pulumi.output(args.script);
    this.command = new remote.Command(
      `${name}-run`,
      {
        connection: args.connection,
        create: "sudo bash -s",
        stdin: script,
        triggers: [args.instanceId, args.builtFrom, script.apply(sha256)],
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: args.after ?? [] },
    );
    this.log = this.command.stdout;
    this.registerOutputs({ log: this.log });
  }
}
