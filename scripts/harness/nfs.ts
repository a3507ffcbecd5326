/**
 * A real NFS server, nfs-ganesha with its VFS backend, exporting one directory from its own
 * namespace on the run's bridge, like the deployment's NFS VM. This kernel has no NFS client, so
 * engines cannot mount it: the local cluster's volumes bind the exported directory itself (all
 * engines share this machine's filesystem), and tests read what a container wrote through the NFS
 * protocol with libnfs (`nfs-cat`, `nfs-ls`) — the data really is served over NFS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCommand, type CommandResult } from "./commands.ts";
import { record } from "./ledger.ts";
import { createHost } from "./network.ts";
import { spawnDaemon, waitFor } from "./processes.ts";
import { release } from "./release.ts";
import { currentRun } from "./run.ts";

export interface NfsServer {
  address: string;
  /** The exported directory, also the shared root engines bind volumes from. */
  exportPath: string;
  /** Reads a file through NFS, from a namespace on the bridge (as a node would). */
  cat(path: string): Promise<CommandResult>;
  stop(): Promise<void>;
}

export async function startNfsServer(): Promise<NfsServer> {
  const run = currentRun();
  const [server, client] = await Promise.all([createHost(run), createHost(run)]);
  const dir = join(run.dir, "nfs", String(server.hostIndex));
  const exportPath = join(dir, "export");
  mkdirSync(exportPath, { recursive: true, mode: 0o777 });
  const config = join(dir, "ganesha.conf");
  writeFileSync(
    config,
    [
      // NFSv4 over TCP only: v3 and UDP need rpcbind, which would make ganesha give up at start.
      "NFS_CORE_PARAM { Protocols = 4; Enable_UDP = false; Enable_RQUOTA = false; Enable_NLM = false; }",
      "NFSV4 { Graceless = true; }",
      `NFS_KRB5 { Active_krb5 = false; }`,
      "EXPORT {",
      "  Export_Id = 1;",
      `  Path = ${exportPath};`,
      "  Pseudo = /volumes;",
      "  Access_Type = RW;",
      "  Squash = No_Root_Squash;",
      "  Protocols = 4;",
      "  Transports = TCP;",
      "  FSAL { Name = VFS; }",
      "}",
      "",
    ].join("\n"),
  );
  const daemon = await spawnDaemon(
    [
      "nsenter",
      `--net=/var/run/netns/${server.netns}`,
      "/usr/bin/ganesha.nfsd",
      "-F",
      "-f",
      config,
      "-L",
      join(dir, "ganesha.log"),
      "-p",
      join(dir, "ganesha.pid"),
      "-N",
      "NIV_EVENT",
    ],
    { logFile: join(dir, "ganesha.out") },
  );
  const entry = { kind: "daemon" as const, id: `host-${server.hostIndex}.ganesha`, process: daemon };
  record(run.dir, entry);
  const inClient = (argv: string[]) => runCommand(["nsenter", `--net=/var/run/netns/${client.netns}`, ...argv], { timeoutMs: 20_000 });
  const nfs: NfsServer = {
    address: server.address,
    exportPath,
    cat: (path) => inClient(["nfs-cat", `nfs://${server.address}/volumes/${path.replace(/^\//, "")}?version=4`]),
    stop: async () => {
      await release(run.dir, entry);
      await Promise.all([release(run.dir, server.entry), release(run.dir, client.entry)]);
    },
  };
  writeFileSync(join(exportPath, ".ready"), "ready\n");
  const serving = async () => (await nfs.cat(".ready")).stdout === "ready\n";
  if (!(await waitFor(serving, 60_000, 500))) {
    await nfs.stop();
    throw new Error(`nfs-ganesha at ${server.address} did not serve within 60 s (see ${dir})`);
  }
  return nfs;
}
