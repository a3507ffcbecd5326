import { remote, type types } from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { renderWaitForSsh } from "../render.ts";
import { DIAL } from "../ssh-dial.ts";

/** How `pulumi up` logs in: the VMs' user and the stack's private key. */
export interface SshAccess {
  user: string;
  /** Secret. */
  privateKey: pulumi.Input<string>;
}

/** An SSH server: its address and the host key it must present (an authorized_keys line). */
export interface SshHost {
  address: pulumi.Input<string>;
  hostKey: pulumi.Input<string>;
}

/** How long the bastion waits for a VM's sshd to answer with its pinned key. */
const SSH_READY_TIMEOUT_SECONDS = 900;

function credentials(access: SshAccess, host: SshHost) {
  return {
    host: host.address,
    hostKey: host.hostKey,
    user: access.user,
    ...DIAL,
    privateKey: access.privateKey,
  };
}

/** SSH to `target` with its host key pinned, through `bastion` when given (every VM but the manager admits SSH only from it). */
export function sshConnection(access: SshAccess, target: SshHost, bastion?: SshHost): types.input.remote.ConnectionArgs {
  return { ...credentials(access, target), ...(bastion !== undefined ? { proxy: credentials(access, bastion) } : {}) };
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export interface ProvisionerArgs {
  /** Where to run: the VM's address, and the bastion unless the VM is the bastion. */
  connection: pulumi.Input<types.input.remote.ConnectionArgs>;
  /**
   * For a VM behind the bastion: the bastion's own connection and the VM. The provider dials
   * through the bastion once and retries the SSH handshake on that same channel, so one handshake
   * refused while the VM boots would fail the run: the bastion first waits until the VM's sshd
   * answers with the pinned key (ssh-keyscan), and only then does the provider dial through it.
   */
  behindBastion?: { bastion: pulumi.Input<types.input.remote.ConnectionArgs>; target: SshHost };
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
    const waited = args.behindBastion ? [waitForSsh(`${name}-ssh-ready`, args.behindBastion, [args.instanceId, args.builtFrom], this)] : [];
    this.command = new remote.Command(
      `${name}-run`,
      {
        connection: args.connection,
        create: "sudo bash -s",
        stdin: script,
        triggers: [args.instanceId, args.builtFrom, script.apply(sha256)],
        addPreviousOutputInEnv: false,
      },
      // The command's outputs repeat its stdin, and the provider tags only `connection` secret: the
      // script (the proxy's TLS key on the manager) stays secret in the state because we say so.
      { parent: this, dependsOn: [...(args.after ?? []), ...waited], additionalSecretOutputs: ["stdin"] },
    );
    this.log = this.command.stdout;
    this.registerOutputs({ log: this.log });
  }
}

/** On the bastion: wait until the VM's sshd answers with its pinned host key. */
/** `build`: what identifies the VM as built (its id and image): a rebuilt VM is waited for again. */
function waitForSsh(name: string, hop: NonNullable<ProvisionerArgs["behindBastion"]>, build: pulumi.Input<string>[], parent: pulumi.Resource): remote.Command {
  const script = pulumi
    .all([hop.target.address, hop.target.hostKey])
    .apply(([address, hostKey]) => renderWaitForSsh({ address, hostKey, timeoutSeconds: SSH_READY_TIMEOUT_SECONDS }));
  return new remote.Command(name, { connection: hop.bastion, create: "bash -s", stdin: script, triggers: build, addPreviousOutputInEnv: false }, { parent });
}
