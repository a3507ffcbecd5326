/**
 * SSH as the operator reaches a berth cluster: straight to the manager (its public address), and to
 * every other host through the manager as the bastion (what `ssh -J` does: a direct-tcpip channel
 * from the manager's connection, used as the socket of the next connection), since only the manager
 * is reachable from outside.
 */
import { NodeSSH } from "node-ssh";

export interface SshTarget {
  host: string;
  port?: number;
  username: string;
  privateKey: string;
  timeoutMs: number;
  /** The host key the server must present, from the inventory ("ssh-ed25519 AAAA..."). */
  hostKey: string;
}

/**
 * ssh2 options that accept only `hostKey`: its algorithm is the only one offered, and the key the
 * server presents must be exactly its blob (ssh2 hands hostVerifier the raw key when no hostHash is set).
 */
export function pinnedHostKey(hostKey: string): { algorithms: { serverHostKey: string[] }; hostVerifier: (key: Buffer) => boolean } {
  const [type, blob] = hostKey.trim().split(/\s+/);
  if (!type || !blob) throw new Error(`${JSON.stringify(hostKey)} is not a host key line (type and key)`);
  return { algorithms: { serverHostKey: [type] }, hostVerifier: (key) => key.toString("base64") === blob };
}

export async function connectDirect(target: SshTarget): Promise<NodeSSH> {
  return new NodeSSH().connect({
    host: target.host,
    port: target.port ?? 22,
    username: target.username,
    privateKey: target.privateKey,
    readyTimeout: target.timeoutMs,
    ...pinnedHostKey(target.hostKey),
  });
}

/** A connection to `target` tunnelled through the (connected) bastion. */
export async function connectThrough(bastion: NodeSSH, target: SshTarget): Promise<NodeSSH> {
  const sock = await bastion.forwardOut("127.0.0.1", 0, target.host, target.port ?? 22);
  try {
    return await new NodeSSH().connect({
      sock,
      host: target.host,
      username: target.username,
      privateKey: target.privateKey,
      readyTimeout: target.timeoutMs,
      ...pinnedHostKey(target.hostKey),
    });
  } catch (error) {
    sock.destroy();
    throw error;
  }
}

/** Runs a shell command on the host; resolves with its stdout, rejects with its stderr when it fails. */
export async function remote(ssh: NodeSSH, command: string): Promise<string> {
  const result = await ssh.execCommand(command);
  if (result.code !== 0) {
    const why = result.stderr.trim() || result.stdout.trim() || (result.signal ? `killed by ${result.signal}` : "no output");
    throw new Error(`exit ${result.code ?? "?"}: ${why}`);
  }
  return result.stdout;
}

/** Quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
