/**
 * The local cluster runs its daemons from the very files infra/render.ts renders for the OpenStack
 * VMs; these pure conversions turn each rendered file into what a daemon on this machine takes.
 * Each one reads the file as its consumer would (a shell assignment for Debian's /etc/default files,
 * exports(5) lines for the NFS server) and adds only what differs locally: paths under the
 * cluster's state directory instead of /var/lib, a unix socket instead of systemd's fd://, and
 * nfs-ganesha (user space, NFSv4 over TCP only) instead of the kernel's NFS server. Anything they
 * do not understand is an error, so a template change can never be dropped silently here.
 */

/** `NAME="value"` and `NAME=value` lines of an environment file, comments and blank lines skipped. */
export function shellAssignments(text: string): Record<string, string> {
  const assignments: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"\\$`]*)"|([^\s"'\\$`]*))$/.exec(line);
    if (!match) throw new Error(`cannot read the line ${JSON.stringify(line)}: expected NAME="value" or NAME=value`);
    assignments[match[1]!] = match[2] ?? match[3]!;
  }
  return assignments;
}

export interface LocalEngine {
  /** Holds the engine's data root, exec root, pidfile and key. */
  dir: string;
  socketPath: string;
  /** The daemon.json with `deprecated-key-path`, for a distinct engine ID. */
  configFile: string;
}

/** Where a local engine keeps what a VM's engine keeps in /var/lib/docker, and what it keeps under /run (gone after a reboot). */
export function engineRoots(engine: Pick<LocalEngine, "dir">): { dataRoot: string; execRoot: string; pidFile: string } {
  return { dataRoot: `${engine.dir}/data`, execRoot: `${engine.dir}/exec`, pidFile: `${engine.dir}/dockerd.pid` };
}

/** dockerd's argv from a rendered /etc/default/docker: its DOCKER_OPTS plus the local-only flags. */
export function dockerdArgs(dockerDefaults: string, engine: LocalEngine): string[] {
  const opts = shellAssignments(dockerDefaults).DOCKER_OPTS;
  if (opts === undefined) throw new Error("the rendered docker defaults set no DOCKER_OPTS");
  const rendered = opts.split(/\s+/).filter(Boolean);
  const roots = engineRoots(engine);
  return [
    ...rendered,
    "--data-root",
    roots.dataRoot,
    "--exec-root",
    roots.execRoot,
    "--pidfile",
    roots.pidFile,
    "--config-file",
    engine.configFile,
    // Debian's unit adds -H fd:// (systemd's socket); here the engine gets a socket file of its own.
    "-H",
    `unix://${engine.socketPath}`,
    ...(rendered.some((flag) => flag.startsWith("--tls")) ? [] : ["--tls=false"]),
  ];
}

/** etcd's environment from a rendered /etc/default/etcd: its ETCD_* settings, as etcd.service passes them. */
export function etcdEnvironment(etcdDefaults: string): Record<string, string> {
  const settings = Object.entries(shellAssignments(etcdDefaults)).filter(([name]) => name.startsWith("ETCD_"));
  if (settings.length === 0) throw new Error("the rendered etcd defaults set no ETCD_* variable");
  return Object.fromEntries(settings);
}

export interface NfsExport {
  path: string;
  clients: Array<{ client: string; options: string[] }>;
}

/** exports(5): `path client(opt,opt) client(...)` a line. */
export function parseExports(text: string): NfsExport[] {
  const exports: NfsExport[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [path, ...clients] = line.split(/\s+/);
    if (!path?.startsWith("/") || clients.length === 0) throw new Error(`cannot read the exports line ${JSON.stringify(line)}: expected /path client(options)`);
    exports.push({
      path,
      clients: clients.map((entry) => {
        const match = /^([^()\s]+)\(([^()]*)\)$/.exec(entry);
        if (!match) throw new Error(`cannot read the client ${JSON.stringify(entry)} of ${path}: expected client(options)`);
        return { client: match[1]!, options: match[2]!.split(",").filter(Boolean) };
      }),
    });
  }
  return exports;
}

/** Options of the kernel's NFS server that have no meaning for ganesha's VFS backend. */
const KERNEL_ONLY_OPTIONS = new Set(["sync", "async", "no_subtree_check", "subtree_check", "wdelay", "no_wdelay", "secure", "insecure"]);

function clientBlock(path: string, client: string, options: string[]): string {
  let access = "RO"; // exports(5): ro is the default
  let squash = "Root_Squash";
  for (const option of options) {
    if (option === "rw") access = "RW";
    else if (option === "ro") access = "RO";
    else if (option === "no_root_squash") squash = "No_Root_Squash";
    else if (option === "root_squash") squash = "Root_Squash";
    else if (option === "all_squash") squash = "All_Squash";
    else if (!KERNEL_ONLY_OPTIONS.has(option)) throw new Error(`the export option ${JSON.stringify(option)} of ${path} has no nfs-ganesha equivalent here`);
  }
  return `  CLIENT { Clients = ${client}; Access_Type = ${access}; Squash = ${squash}; }`;
}

/**
 * An nfs-ganesha configuration serving what a rendered /etc/exports exports, over NFSv4/TCP only
 * (v3 and UDP need rpcbind, which would make ganesha give up at start). Each export keeps its
 * path as the NFSv4 pseudo path, so clients name the same paths as on the NFS VM, and serves the
 * local directory `localPath` gives for it.
 */
export function ganeshaConfig(exportsText: string, localPath: (exported: string) => string): string {
  const exports = parseExports(exportsText);
  if (exports.length === 0) throw new Error("the rendered exports export nothing");
  const blocks = exports.map((entry, index) =>
    [
      "EXPORT {",
      `  Export_Id = ${index + 1};`,
      `  Path = ${localPath(entry.path)};`,
      `  Pseudo = ${entry.path};`,
      "  Protocols = 4;",
      "  Transports = TCP;",
      "  Access_Type = None;",
      ...entry.clients.map(({ client, options }) => clientBlock(entry.path, client, options)),
      "  FSAL { Name = VFS; }",
      "}",
    ].join("\n"),
  );
  return [
    "# nfs-ganesha for the berth local cluster, converted from the rendered /etc/exports (templates/exports.hbs).",
    "NFS_CORE_PARAM { Protocols = 4; Enable_UDP = false; Enable_RQUOTA = false; Enable_NLM = false; }",
    "NFSV4 { Graceless = true; }",
    "NFS_KRB5 { Active_krb5 = false; }",
    ...blocks,
    "",
  ].join("\n");
}

export interface SshdInput {
  port: number;
  hostKey: string;
  authorizedKeys: string;
  pidFile: string;
}

/**
 * One host's sshd: its own host key, root by key only, listening on every address of the host's
 * namespace as Debian's sshd does on a VM (a docker node's bridge gateways included, which the
 * node firewall must keep from containers).
 */
export function sshdConfig(input: SshdInput): string {
  return [
    `ListenAddress 0.0.0.0:${input.port}`,
    `HostKey ${input.hostKey}`,
    `PidFile ${input.pidFile}`,
    `AuthorizedKeysFile ${input.authorizedKeys}`,
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    // The key files live in the repository's .local/, whose parents need not be root-only.
    "StrictModes no",
    "AllowTcpForwarding yes",
    "Subsystem sftp internal-sftp",
    "",
  ].join("\n");
}
