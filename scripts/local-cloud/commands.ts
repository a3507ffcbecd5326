/**
 * Runs the program's command resources for real, as pulumi-command 1.2.1 would: over SSH with the
 * connection the program gave each (the host key pinned, through the bastion when it names a
 * proxy), dialled again with the provider's back-off until its dialErrorLimit, `create` with the
 * command's stdin, or the file copy of a CopyToRemote.
 */
import type { NodeSSH } from "node-ssh";
import { RETRY } from "../../infra/ssh-dial.ts";
import { connectDirect, connectThrough, type SshTarget } from "../smoke/ssh.ts";
import type { Command } from "./graph.ts";

interface Connection {
  host: string;
  port?: number;
  user: string;
  privateKey: string;
  hostKey: string;
  dialErrorLimit?: number;
  perDialTimeout?: number;
  proxy?: Connection;
}

const target = (connection: Connection): SshTarget => ({
  host: connection.host,
  port: connection.port ?? 22,
  username: connection.user,
  privateKey: connection.privateKey,
  hostKey: connection.hostKey,
  timeoutMs: (connection.perDialTimeout ?? 15) * 1000,
});

/** Dials until it works or `dialErrorLimit` dials failed, waiting as the provider does between them. */
async function dial(connection: Connection, open: () => Promise<NodeSSH>): Promise<NodeSSH> {
  let delay = RETRY.firstDelaySeconds;
  const limit = connection.dialErrorLimit ?? 10;
  for (let failures = 1; ; failures++) {
    try {
      return await open();
    } catch (error) {
      if (failures > limit) throw new Error(`ssh to ${connection.host}: ${(error as Error).message} (after ${failures} dials)`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, RETRY.maxDelaySeconds) * 1000));
      delay *= RETRY.backoff;
    }
  }
}

async function connect(connection: Connection): Promise<{ ssh: NodeSSH; close(): void }> {
  if (!connection.proxy) {
    const ssh = await dial(connection, () => connectDirect(target(connection)));
    return { ssh, close: () => ssh.dispose() };
  }
  const bastion = await dial(connection.proxy, () => connectDirect(target(connection.proxy!)));
  try {
    const ssh = await dial(connection, () => connectThrough(bastion, target(connection)));
    return { ssh, close: () => (ssh.dispose(), bastion.dispose()) };
  } catch (error) {
    bastion.dispose();
    throw error;
  }
}

/** Runs one command; resolves with its stdout, rejects with its exit code and stderr. */
export async function runCommand(command: Command): Promise<string> {
  const { ssh, close } = await connect(command.inputs.connection as Connection);
  try {
    if (command.kind === "copy") {
      const source = command.inputs.source as { path?: string };
      if (!source?.path) throw new Error(`${command.name}: the local cloud copies file assets only`);
      await ssh.putFile(source.path, command.inputs.remotePath);
      return "";
    }
    const result = await ssh.execCommand(command.inputs.create, command.inputs.stdin !== undefined ? { stdin: command.inputs.stdin } : {});
    if (result.code !== 0)
      throw new Error(`${command.name} exited ${result.code ?? result.signal}:\n${(result.stderr || result.stdout).trim().split("\n").slice(-40).join("\n")}`);
    return result.stdout;
  } finally {
    close();
  }
}
