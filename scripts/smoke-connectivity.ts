/**
 * npm run smoke:connectivity -- [--inventory FILE | --stack NAME] [--ssh-key FILE] [--timeout S]
 *
 * Proves a berth cluster's wiring from its inventory, as an operator reaches it: SSH to the manager
 * and through it (the bastion) to every other host; every host answers ping from the manager; each
 * engine's API answers `_ping` from the manager and is NOT reachable from here; the proxy answers
 * `_ping` over TLS verified with the cluster's CA; etcd (the 20.10 line) or the nodes' swarm (the
 * current line: each node a member, the manager's port open to the workers) and NFS answer from the nodes. One row per
 * check, a table and a summary at the end, exit 1 on any failure; every check has a timeout.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { fileURLToPath } from "node:url";
import type { NodeSSH } from "node-ssh";
import type { Inventory } from "../infra/inventory.ts";
import { NFS_PORT, SWARM_MANAGEMENT_PORT } from "../infra/ports.ts";
import { type ConnectivityOptions, optionsOrExitCode, parseConnectivityArgs } from "./smoke/args.ts";
import { inventoryHosts, readInventoryFile, readStackInventory } from "./smoke/inventory.ts";
import { curlCommand, hostPort, judgeEnginePing, judgeEtcd, judgeSwarmMember, pingCommand, tcpConnect, tcpProbeCommand, tlsPing } from "./smoke/probes.ts";
import { step } from "./lib/console.ts";
import { type CheckRow, report, runCheck } from "./smoke/results.ts";
import { connectDirect, connectThrough, remote, type SshTarget } from "./smoke/ssh.ts";

const LOCAL_DIR = fileURLToPath(new URL("../.local/", import.meta.url));

const USAGE = `Usage: npm run smoke:connectivity -- [options]

Checks a berth cluster's connectivity from its inventory and prints a table of results.

  --inventory FILE   the inventory JSON (default: .local/inventory.json, the local cluster's)
  --stack NAME       take the inventory from \`pulumi stack output --json --stack NAME\` instead
  --ssh-key FILE     private key for SSH (default: .local/ssh/id_ed25519 if present, else ~/.ssh/id_ed25519)
  --timeout SECONDS  per check (default 15)
  --help             this text`;

type Sessions = Map<string, NodeSSH | Error>;

interface Run {
  inventory: Inventory;
  timeoutMs: number;
  target(address: string, hostKey: string): SshTarget;
}

/** Seconds for a command on a host: a little less than the check's own timeout. */
const innerSeconds = (run: Run) => Math.max(1, Math.floor(run.timeoutMs / 1000) - 2);

function session(sessions: Sessions, name: string): NodeSSH {
  const found = sessions.get(name);
  if (found === undefined || found instanceof Error) throw new Error(`no SSH to ${name}${found ? ` (${found.message})` : ""}`);
  return found;
}

async function sshChecks(run: Run, sessions: Sessions): Promise<CheckRow[]> {
  const { manager } = run.inventory;
  const rows = [
    await runCheck("ssh", manager.name, run.timeoutMs, async () => {
      const ssh = await connectDirect({ ...run.target(manager.publicAddress, manager.sshHostKey) });
      sessions.set(manager.name, ssh);
      return `${manager.sshUser}@${manager.publicAddress}: ${(await remote(ssh, "hostname")).trim()}`;
    }),
  ];
  if (!rows[0]!.ok) sessions.set(manager.name, new Error(rows[0]!.detail));
  const others = inventoryHosts(run.inventory).filter((h) => h.role !== "manager");
  const results = await Promise.all(
    others.map((host) =>
      runCheck("ssh via bastion", host.name, run.timeoutMs, async () => {
        const ssh = await connectThrough(session(sessions, manager.name), run.target(host.address, host.sshHostKey));
        sessions.set(host.name, ssh);
        return `${host.address}: ${(await remote(ssh, "hostname")).trim()}`;
      }).then((row) => {
        if (!row.ok) sessions.set(host.name, new Error(row.detail));
        return row;
      }),
    ),
  );
  return [...rows, ...results];
}

function pingChecks(run: Run, sessions: Sessions): Promise<CheckRow[]> {
  const others = inventoryHosts(run.inventory).filter((h) => h.role !== "manager");
  return Promise.all(
    others.map((host) =>
      runCheck("ping from manager", host.name, run.timeoutMs, async () => {
        const out = await remote(session(sessions, run.inventory.manager.name), pingCommand(host.address, innerSeconds(run)));
        return /(\d+(?:\.\d+)?) ?ms/.exec(out)?.[0] ?? "answered";
      }),
    ),
  );
}

function engineChecks(run: Run, sessions: Sessions): Promise<CheckRow[]> {
  return Promise.all(
    run.inventory.nodes.flatMap((node) => [
      runCheck("engine _ping from manager", node.name, run.timeoutMs, async () => {
        const url = `http://${hostPort(node.privateAddress, node.enginePort)}/_ping`;
        return `${url}: ${judgeEnginePing(await remote(session(sessions, run.inventory.manager.name), curlCommand(url, innerSeconds(run))))}`;
      }),
      ...[node.privateAddress, ...(node.publicAddress ? [node.publicAddress] : [])].map((address) =>
        runCheck("engine port closed from here", node.name, run.timeoutMs, async () => {
          const outcome = await tcpConnect(address, node.enginePort, Math.min(5000, run.timeoutMs - 500));
          if (outcome.open)
            throw new Error(`${hostPort(address, node.enginePort)} accepted a connection from here: the engine API must be open to the manager only`);
          return `${hostPort(address, node.enginePort)}: ${outcome.why}`;
        }),
      ),
    ]),
  );
}

function proxyCheck(run: Run): Promise<CheckRow> {
  const { proxy, ca } = run.inventory;
  return runCheck("proxy _ping over TLS", run.inventory.manager.name, run.timeoutMs, async () => {
    const body = await tlsPing(proxy.url, ca.pem, run.timeoutMs - 500);
    if (body.trim() !== "OK") throw new Error(`${proxy.url}/_ping answered ${JSON.stringify(body.slice(0, 80))}`);
    return `${proxy.url}/_ping: OK (verified with the inventory's CA)`;
  });
}

async function etcdAnswer(ssh: NodeSSH, clientUrl: string, seconds: number): Promise<string> {
  try {
    return judgeEtcd("/health", await remote(ssh, curlCommand(`${clientUrl}/health`, seconds)));
  } catch (health) {
    try {
      return judgeEtcd("/version", await remote(ssh, curlCommand(`${clientUrl}/version`, seconds)));
    } catch {
      throw health;
    }
  }
}

/** The current line: every node in the swarm the first node manages, and the workers reach its management port. */
function swarmChecks(run: Run, sessions: Sessions): Array<Promise<CheckRow>> {
  const [first, ...workers] = run.inventory.nodes;
  if (!first) return [];
  const info = async (node: Inventory["nodes"][number]) =>
    remote(
      session(sessions, run.inventory.manager.name),
      curlCommand(`http://${hostPort(node.privateAddress, node.enginePort)}/v1.41/info`, innerSeconds(run)),
    );
  return [
    runCheck("swarm manager", first.name, run.timeoutMs, async () => judgeSwarmMember(await info(first), { manager: true })),
    ...workers.flatMap((node) => [
      runCheck("swarm worker", node.name, run.timeoutMs, async () =>
        judgeSwarmMember(await info(node), { manager: false, managerAddress: first.privateAddress }),
      ),
      runCheck(`swarm tcp/${SWARM_MANAGEMENT_PORT} from node`, node.name, run.timeoutMs, async () => {
        await remote(session(sessions, node.name), tcpProbeCommand(first.privateAddress, SWARM_MANAGEMENT_PORT, innerSeconds(run)));
        return `${hostPort(first.privateAddress, SWARM_MANAGEMENT_PORT)} (${first.name}) accepts TCP`;
      }),
    ]),
  ];
}

/** What carries the overlays (etcd on the 20.10 line, the swarm on the current one) and NFS, from the nodes. */
function serviceChecks(run: Run, sessions: Sessions): Promise<CheckRow[]> {
  const { etcd, nfs, manager, nodes } = run.inventory;
  const etcdRows = etcd
    ? nodes.map((node) =>
        runCheck(
          "etcd from node",
          node.name,
          run.timeoutMs,
          async () => `${etcd.clientUrl}: ${await etcdAnswer(session(sessions, node.name), etcd.clientUrl, innerSeconds(run))}`,
        ),
      )
    : swarmChecks(run, sessions);
  // The manager mounts the share too: the proxy makes the tenants' volume directories there.
  const nfsRows = [...nodes.map((n) => n.name), manager.name].map((name) =>
    runCheck("nfs tcp/2049 from host", name, run.timeoutMs, async () => {
      await remote(session(sessions, name), tcpProbeCommand(nfs.privateAddress, NFS_PORT, innerSeconds(run)));
      return `${hostPort(nfs.privateAddress, NFS_PORT)} accepts TCP`;
    }),
  );
  return Promise.all([...etcdRows, ...nfsRows]);
}

async function loadInventory(options: ConnectivityOptions): Promise<Inventory> {
  return options.inventory.kind === "stack" ? readStackInventory(options.inventory.stack) : readInventoryFile(options.inventory.path);
}

async function smoke(options: ConnectivityOptions): Promise<number> {
  step(`reading the inventory (${options.inventory.kind === "stack" ? `stack ${options.inventory.stack}` : options.inventory.path})`);
  const inventory = await loadInventory(options);
  const privateKey = readFileSync(options.sshKey, "utf8");
  const run: Run = {
    inventory,
    timeoutMs: options.timeoutMs,
    target: (host, hostKey) => ({ host, hostKey, username: inventory.manager.sshUser, privateKey, timeoutMs: options.timeoutMs }),
  };
  const sessions: Sessions = new Map();
  const rows: CheckRow[] = [];
  try {
    step(`SSH to the manager ${inventory.manager.publicAddress} and through it to every host (key ${options.sshKey})`);
    rows.push(...(await sshChecks(run, sessions)));
    step("ping from the manager");
    rows.push(...(await pingChecks(run, sessions)));
    step("the engines' API port: open to the manager, closed to us");
    rows.push(...(await engineChecks(run, sessions)));
    step("the proxy over TLS");
    rows.push(await proxyCheck(run));
    step(inventory.etcd ? "etcd and NFS from the nodes" : "the swarm, and NFS from the nodes");
    rows.push(...(await serviceChecks(run, sessions)));
  } finally {
    for (const ssh of sessions.values()) if (!(ssh instanceof Error)) ssh.dispose();
  }
  return report(`Connectivity of ${inventory.cluster}`, rows);
}

async function main(argv: string[]): Promise<number> {
  const options = optionsOrExitCode(() => parseConnectivityArgs(argv, { localDir: LOCAL_DIR, home: homedir(), exists: existsSync }), USAGE);
  if (typeof options === "number") return options;
  try {
    return await smoke(options);
  } catch (error) {
    console.error(`smoke:connectivity: ${(error as Error).message}`);
    return 1;
  }
}

// Exit at once: a connection a timed-out check left behind must not keep the script alive.
process.exit(await main(process.argv.slice(2)));
