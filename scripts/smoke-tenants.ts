/**
 * npm run smoke:tenants -- [--tenant1 DIR] [--tenant2 DIR] [--tenant2-member DIR] [--host URL]
 *                          [--ca FILE] [--image IMAGE] [--nodes N1,N2] [--timeout S]
 *
 * Replays the FDCS introduction (the walk-through FIWARE's Docker Container Service gives its users) against a live berth
 * endpoint with the stock docker CLI and docker-compose, as three users would: docker-user-1 (one
 * tenant), docker-user-2 and docker-user-3 (both members of a second tenant). Isolation, refused
 * removal, name scoping, members sharing, attach; an overlay network and a volume shared by two
 * containers of one tenant on different nodes, closed to the other tenant; a compose app scaled up
 * and down; host escapes refused by the proxy. Every object carries a unique run prefix and is
 * removed at the end, also when a check fails. A table of results; exit 1 on any failure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { optionsOrExitCode, parseEnvFile, parseTenantArgs, type TenantOptions } from "./smoke/args.ts";
import { type CommandResult, stdoutOf, type TenantCli, tenantCli } from "./smoke/docker.ts";
import { step } from "./lib/console.ts";
import { type CheckRow, report, runCheck } from "./smoke/results.ts";
import {
  HOST_ESCAPES,
  LOOP,
  baseName,
  composeFile,
  fetchLoop,
  isProxyRefusal,
  nodesFromSystemStatus,
  serveCommand,
  runNames,
  runObjects,
  runPrefix,
} from "./smoke/transcript.ts";

const LOCAL_DIR = fileURLToPath(new URL("../.local/", import.meta.url));
const PEER_PORT = 8080;

const USAGE = `Usage: npm run smoke:tenants -- [options]

Replays the FDCS transcript against a berth endpoint with the docker CLI and docker-compose.

  --tenant1 DIR         docker config dir of docker-user-1 (default .local/tenants/docker-user-1)
  --tenant2 DIR         docker config dir of docker-user-2 (default .local/tenants/docker-user-2)
  --tenant2-member DIR  docker config dir of docker-user-3, in docker-user-2's tenant (default .local/tenants/docker-user-3)
  --host URL            the endpoint (default: $DOCKER_HOST, else .local/env)
  --ca FILE             CA to verify the endpoint with (default: with DOCKER_TLS_VERIFY set,
                        $DOCKER_CERT_PATH/ca.pem or the tenant1 dir's ca.pem; none: plain TCP)
  --image IMAGE         image with sh and nc (default busybox:latest)
  --nodes N1,N2         two nodes for the cross-node checks (default: the first two of docker info)
  --timeout SECONDS     per docker command (default 60)
  --help                this text`;

interface Run {
  u1: TenantCli;
  u2: TenantCli;
  u3: TenantCli;
  names: ReturnType<typeof runNames>;
  prefix: string;
  image: string;
  nodes?: [string, string];
  checkMs: number;
  composeDir: string;
}

/** What a command said, in one line: its error line when it has one (the CLI may print progress before it). */
function said(result: CommandResult): string {
  const lines = (result.stderr.trim() || result.stdout.trim()).split("\n");
  return lines.find((line) => /\berror\b/i.test(line)) ?? lines[lines.length - 1] ?? "";
}

async function listed(cli: TenantCli, prefix: string): Promise<string[]> {
  return runObjects(stdoutOf(await cli.docker(["ps", "-a", "--format", "{{.Names}}"]), `${cli.label}: docker ps`), prefix);
}

async function runDetached(cli: TenantCli, image: string, name: string, command: string[], extra: string[] = []): Promise<string> {
  return stdoutOf(await cli.docker(["run", "-d", "--name", name, ...extra, image, ...command]), `${cli.label}: docker run ${name}`).trim();
}

function sameList(what: string, seen: string[], expected: string[]): void {
  if (seen.join(",") !== [...expected].sort().join(",")) throw new Error(`${what} [${seen.join(", ")}], expected [${[...expected].sort().join(", ")}]`);
}

async function isolationChecks(run: Run): Promise<CheckRow[]> {
  const { u1, u2, u3, names: n, image, prefix } = run;
  const check = (name: string, who: string, work: () => Promise<string>) => runCheck(name, who, run.checkMs, work);
  const rows: CheckRow[] = [];
  rows.push(await check("tenant 1 runs a container", u1.label, async () => `${n.t1Loop} ${(await runDetached(u1, image, n.t1Loop, LOOP)).slice(0, 12)}`));
  rows.push(
    await check("tenant 2 runs two containers", u2.label, async () => {
      for (const name of [n.t2Loop1, n.t2Loop2]) await runDetached(u2, image, name, LOOP);
      return `${n.t2Loop1}, ${n.t2Loop2}`;
    }),
  );
  rows.push(
    await check("isolation: each tenant sees only its own", `${u1.label}, ${u2.label}`, async () => {
      const [seen1, seen2] = await Promise.all([listed(u1, prefix), listed(u2, prefix)]);
      sameList(`${u1.label} sees`, seen1, [n.t1Loop]);
      sameList(`${u2.label} sees`, seen2, [n.t2Loop1, n.t2Loop2]);
      return `${u1.label}: ${seen1.length} container, ${u2.label}: ${seen2.length} containers`;
    }),
  );
  rows.push(
    await check("tenant 1 removes its own container", u1.label, async () => {
      stdoutOf(await u1.docker(["rm", "-f", n.t1Loop]), "docker rm -f");
      sameList(`${u1.label} still sees`, await listed(u1, prefix), []);
      return `${n.t1Loop} removed`;
    }),
  );
  rows.push(
    await check("removing the other tenant's container is refused", u1.label, async () => {
      const id = stdoutOf(await u2.docker(["inspect", "-f", "{{.Id}}", n.t2Loop1]), `${u2.label}: docker inspect`).trim();
      const byName = await u1.docker(["rm", "-f", n.t2Loop1]);
      const byId = await u1.docker(["rm", "-f", id.slice(0, 12)]);
      const running = await u2.docker(["inspect", "-f", "{{.State.Running}}", n.t2Loop1]);
      if (running.stdout.trim() !== "true") throw new Error(`${u1.label} removed ${u2.label}'s ${n.t2Loop1} (rm said: ${said(byName)})`);
      return `by name: ${said(byName)}; by id: ${said(byId)}`;
    }),
  );
  rows.push(
    await check("name scoping: both tenants own the same name", `${u1.label}, ${u2.label}`, async () => {
      await runDetached(u1, image, n.same, LOOP);
      await runDetached(u2, image, n.same, LOOP);
      const ids = await Promise.all(
        [u1, u2].map(async (u) => stdoutOf(await u.docker(["inspect", "-f", "{{.Id}}", n.same]), `${u.label}: docker inspect`).trim()),
      );
      if (ids[0] === ids[1]) throw new Error(`both tenants' ${n.same} are the same container ${ids[0]}`);
      return `${n.same}: ${ids.map((id) => id.slice(0, 12)).join(" and ")}`;
    }),
  );
  rows.push(
    await check("members: docker-user-3 sees docker-user-2's containers", u3.label, async () => {
      const [seen2, seen3] = await Promise.all([listed(u2, prefix), listed(u3, prefix)]);
      sameList(`${u3.label} sees`, seen3, [n.same, n.t2Loop1, n.t2Loop2]);
      sameList(`${u2.label} sees`, seen2, seen3);
      return `${seen3.length} containers, the same as ${u2.label}`;
    }),
  );
  rows.push(
    await check("members: docker-user-3 removes docker-user-2's container", u3.label, async () => {
      stdoutOf(await u3.docker(["rm", "-f", n.t2Loop2]), `${u3.label}: docker rm -f`);
      sameList(`${u2.label} sees`, await listed(u2, prefix), [n.same, n.t2Loop1]);
      return `${n.t2Loop2} removed`;
    }),
  );
  rows.push(
    await check("attach reads a running container's output", u3.label, async () => {
      const attached = await u3.docker(["attach", "--no-stdin", n.same], { timeoutMs: 4_000 });
      const lines = attached.stdout.split("\n").filter((line) => line === "Hello world").length;
      if (lines === 0) throw new Error(`attach read nothing: ${said(attached)}`);
      return `${lines} lines of Hello world in 4 s`;
    }),
  );
  return rows;
}

async function clusterNodes(run: Run): Promise<[string, string]> {
  if (run.nodes) return run.nodes;
  const info = stdoutOf(await run.u2.docker(["info", "--format", "{{json .SystemStatus}}"]), "docker info");
  const nodes = nodesFromSystemStatus(info);
  if (nodes.length < 2)
    throw new Error(`docker info lists ${nodes.length} node(s) (${nodes.join(", ") || "none"}); the cross-node checks need two (or --nodes)`);
  return [nodes[0]!, nodes[1]!];
}

async function sharedNetworkChecks(run: Run): Promise<CheckRow[]> {
  const { u1, u2, names: n, image } = run;
  const check = (name: string, who: string, work: () => Promise<string>) => runCheck(name, who, run.checkMs, work);
  const rows: CheckRow[] = [];
  const peers = [
    { name: n.peer1, answer: `${n.peer1}-answers`, file: "peer1.txt" },
    { name: n.peer2, answer: `${n.peer2}-answers`, file: "peer2.txt" },
  ] as const;
  // The network and the volume are checked apart: a cluster whose NFS mounts fail (the local cloud
  // on this kernel) still shows whether its overlay carries containers between two nodes.
  rows.push(
    await check("overlay network on two nodes", u2.label, async () => {
      const nodes = await clusterNodes(run);
      stdoutOf(await u2.docker(["network", "create", "-d", "overlay", n.network]), "docker network create");
      const placed: string[] = [];
      for (const [i, peer] of peers.entries()) {
        await runDetached(u2, image, peer.name, serveCommand(peer.answer, PEER_PORT), ["--network", n.network, "-e", `constraint:node==${nodes[i]}`]);
        placed.push(stdoutOf(await u2.docker(["inspect", "-f", "{{.Node.Name}}", peer.name]), "docker inspect").trim());
      }
      if (placed.join() !== nodes.join()) throw new Error(`placed on ${placed.join(" and ")}, asked for ${nodes.join(" and ")}`);
      return `${n.peer1} on ${placed[0]}, ${n.peer2} on ${placed[1]}`;
    }),
  );
  rows.push(
    await check("overlay: the two reach each other by name", u2.label, async () => {
      const answers = await Promise.all(
        [peers, [...peers].reverse()].map(async ([from, to]) => {
          const got = stdoutOf(await u2.docker(["exec", from.name, ...fetchLoop(to.name, PEER_PORT)]), `${from.name} -> ${to.name}`).trim();
          if (got !== to.answer) throw new Error(`${from.name} got ${JSON.stringify(got)} from ${to.name}`);
          return `${from.name} -> ${to.name}`;
        }),
      );
      return answers.join(", ");
    }),
  );
  rows.push(
    await check("volume on two nodes: each reads the other's file", u2.label, async () => {
      const nodes = await clusterNodes(run);
      stdoutOf(await u2.docker(["volume", "create", n.volume]), "docker volume create");
      const onNode = (i: number, command: string) =>
        u2.docker(["run", "--rm", "-v", `${n.volume}:/data`, "-e", `constraint:node==${nodes[i]}`, image, "sh", "-c", command]);
      for (const [i, writer] of peers.entries())
        stdoutOf(await onNode(i, `echo ${writer.answer} > /data/${writer.file}`), `${writer.file} written on ${nodes[i]}`);
      // Each node reads what the other node wrote.
      for (const [i, other] of [peers[1], peers[0]].entries()) {
        const got = stdoutOf(await onNode(i, `cat /data/${other.file}`), `${other.file} read on ${nodes[i]}`).trim();
        if (got !== other.answer) throw new Error(`${nodes[i]} read ${JSON.stringify(got)} in ${other.file}`);
      }
      return `${n.volume} written and read on ${nodes.join(" and ")}`;
    }),
  );
  rows.push(
    await check("the other tenant cannot join the network", u1.label, async () => {
      const id = stdoutOf(await u2.docker(["network", "inspect", "-f", "{{.Id}}", n.network]), "docker network inspect").trim();
      const inspect = await u1.docker(["network", "inspect", id]);
      if (inspect.code === 0) throw new Error(`${u1.label} inspects ${u2.label}'s network ${id.slice(0, 12)}`);
      const byId = await u1.docker(["network", "connect", id, n.same]);
      if (byId.code === 0) throw new Error(`${u1.label} connected its ${n.same} to ${u2.label}'s network ${id.slice(0, 12)}`);
      // The CLI reads the 404 of a create as a missing image and tries a pull first: only the outcome counts here.
      const byName = await u1.docker(["run", "--rm", "--network", n.network, image, "true"]);
      if (byName.code === 0) throw new Error(`${u1.label} ran a container on ${u2.label}'s ${n.network}`);
      return `inspect by id: ${said(inspect)}; connect by id: ${said(byId)}; run --network by name: refused`;
    }),
  );
  rows.push(
    await check("the other tenant cannot mount the volume", u1.label, async () => {
      const files = peers.map((p) => `/data/${p.file}`).join(" ");
      const read = await u1.docker(["run", "--rm", "-v", `${n.volume}:/data`, image, "sh", "-c", `cat ${files} 2>/dev/null; true`]);
      const leaked = peers.filter((p) => read.stdout.includes(p.answer));
      if (leaked.length > 0) throw new Error(`${u1.label} read ${leaked.map((p) => p.file).join(", ")} from ${u2.label}'s ${n.volume}`);
      return read.code === 0 ? `${n.volume} is ${u1.label}'s own, empty volume` : `refused: ${said(read)}`;
    }),
  );
  return rows;
}

async function composeChecks(run: Run): Promise<CheckRow[]> {
  const { u1, names: n, image, composeDir } = run;
  const project = n.composeProject;
  const check = (name: string, work: () => Promise<string>) => runCheck(name, u1.label, run.checkMs * 3, work);
  const compose = async (args: string[]) => stdoutOf(await u1.compose(project, composeDir, args), `docker-compose ${args.join(" ")}`);
  const serviceIds = async (service?: string) => (await compose(["ps", "-q", ...(service ? [service] : [])])).split("\n").filter(Boolean);
  writeFileSync(join(composeDir, "docker-compose.yml"), composeFile(image));
  const rows: CheckRow[] = [];
  rows.push(
    await check("compose: up -d brings up two services", async () => {
      await compose(["up", "-d"]);
      const ps = await compose(["ps"]);
      const up = ps.split("\n").filter((line) => line.startsWith(`${project}_`) && /\bUp\b/.test(line));
      if (up.length !== 2) throw new Error(`docker-compose ps shows ${up.length} containers up: ${ps.trim().split("\n").slice(2).join("; ")}`);
      return up.map((line) => line.split(/\s+/)[0]).join(", ");
    }),
  );
  rows.push(
    await check("compose: web reaches db by service name", async () => {
      const got = stdoutOf(await u1.docker(["exec", `${project}_web_1`, ...fetchLoop("db", 27017)]), "web -> db").trim();
      if (got !== "db-answers") throw new Error(`web got ${JSON.stringify(got)} from db`);
      return "db-answers";
    }),
  );
  rows.push(
    await check("compose: up --scale web=3", async () => {
      await compose(["up", "-d", "--scale", "web=3"]);
      const webs = await serviceIds("web");
      if (webs.length !== 3) throw new Error(`docker-compose ps -q web lists ${webs.length} containers`);
      const nodes = stdoutOf(await u1.docker(["inspect", "-f", "{{.Node.Name}}", ...webs]), "docker inspect")
        .split("\n")
        .filter(Boolean);
      return `3 web containers on ${[...new Set(nodes)].sort().join(", ")}`;
    }),
  );
  rows.push(
    await check("compose: down removes the app", async () => {
      await compose(["down", "-v"]);
      const left = (await listed(u1, `${project}_`)).concat(
        runObjects(stdoutOf(await u1.docker(["network", "ls", "--format", "{{.Name}}"]), "docker network ls"), `${project}_`),
      );
      if (left.length > 0) throw new Error(`left behind: ${left.join(", ")}`);
      return "containers, network and volume gone";
    }),
  );
  return rows;
}

function escapeChecks(run: Run): Promise<CheckRow[]> {
  const { u1, prefix, image } = run;
  return Promise.all(
    HOST_ESCAPES.map((hostEscape, i) =>
      runCheck(`refused: ${hostEscape.flags.join(" ")}`, u1.label, run.checkMs, async () => {
        const created = await u1.docker(["create", "--name", `${prefix}-escape-${i}`, ...hostEscape.flags, image, "true"]);
        if (created.code === 0) throw new Error(`created ${created.stdout.trim().slice(0, 12)}: the engine would run it`);
        if (!isProxyRefusal(created.stderr, hostEscape.field))
          throw new Error(`failed, but not with the proxy's refusal of ${hostEscape.field}: ${said(created)}`);
        return said(created).replace(/^Error response from daemon: /, "");
      }),
    ),
  );
}

/** Removes every container, network and volume of the run that `cli`'s tenant can see; throws if any remain. */
async function sweep(cli: TenantCli, prefix: string): Promise<string> {
  const list = async (args: string[]) =>
    stdoutOf(await cli.docker(args), `docker ${args.join(" ")}`)
      .split("\n")
      .map((line) => line.trim().split(" "))
      .filter((fields) => fields[0] && baseName(fields[fields.length - 1]!).startsWith(prefix))
      .map((fields) => fields[0]!);
  // One at a time: dockerd 20.10 removing two containers of one overlay network at once (on two
  // nodes) can race on the network's key in etcd and leave a stale endpoint that blocks `network rm`.
  const kinds = [
    { what: "containers", ls: ["ps", "-a", "--format", "{{.ID}} {{.Names}}"], rm: ["rm", "-f"] },
    { what: "networks", ls: ["network", "ls", "--format", "{{.ID}} {{.Name}}"], rm: ["network", "rm"] },
    { what: "volumes", ls: ["volume", "ls", "--format", "{{.Name}}"], rm: ["volume", "rm", "-f"] },
  ];
  const removed: string[] = [];
  const problems: string[] = [];
  for (const kind of kinds) {
    const found = await list(kind.ls);
    const failures = new Map<string, string>();
    for (const object of found) {
      const result = await cli.docker([...kind.rm, object]);
      if (result.code !== 0) failures.set(object, said(result));
    }
    const left = failures.size > 0 ? await list(kind.ls) : [];
    if (left.length > 0)
      problems.push(`could not remove ${kind.what}: ${left.map((object) => `${object} (${failures.get(object) ?? "still listed"})`).join(", ")}`);
    removed.push(`${found.length - left.length} ${kind.what}`);
  }
  if (problems.length > 0) throw new Error(`${problems.join("; ")} (removed ${removed.join(", ")})`);
  return `removed ${removed.join(", ")}`;
}

async function cleanup(run: Run): Promise<CheckRow[]> {
  await run.u1.compose(run.names.composeProject, run.composeDir, ["down", "-v", "--remove-orphans"]);
  const rows: CheckRow[] = [];
  // docker-user-3 shares docker-user-2's tenant: two sweeps cover everything the run made.
  for (const cli of [run.u1, run.u2]) rows.push(await runCheck("cleanup", cli.label, run.checkMs * 3, () => sweep(cli, run.prefix)));
  return rows;
}

/**
 * Ctrl-C or SIGTERM stops the run after the current phase (Ctrl-C also ends the docker command
 * under way) instead of killing it, so the cleanup still removes what the run made.
 */
function catchInterrupts(): [{ signal?: NodeJS.Signals }, () => void] {
  const state: { signal?: NodeJS.Signals } = {};
  const onSignal = (signal: NodeJS.Signals) => {
    if (!state.signal) console.log(`\n==> ${signal}: stopping after this phase, then cleaning up`);
    state.signal = signal;
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return [state, () => process.off("SIGINT", onSignal).off("SIGTERM", onSignal)];
}

async function smoke(options: TenantOptions): Promise<number> {
  const prefix = runPrefix();
  const [u1, u2, u3] = [options.tenant1, options.tenant2, options.tenant2Member].map((dir) => tenantCli(dir, options.endpoint, options.timeoutMs)) as [
    TenantCli,
    TenantCli,
    TenantCli,
  ];
  const run: Run = {
    u1,
    u2,
    u3,
    names: runNames(prefix),
    prefix,
    image: options.image,
    nodes: options.nodes,
    checkMs: options.timeoutMs * 4,
    composeDir: mkdtempSync(join(tmpdir(), `${prefix}-compose-`)),
  };
  const rows: CheckRow[] = [];
  const [interrupted, stopListening] = catchInterrupts();
  step(
    `${options.endpoint.host} (${options.endpoint.ca ? `TLS verified with ${options.endpoint.ca}` : "plain TCP"}), image ${options.image}, run prefix ${prefix}`,
  );
  try {
    step("the endpoint answers each user");
    rows.push(
      ...(await Promise.all(
        [u1, u2, u3].map((cli) =>
          runCheck(
            "endpoint answers",
            cli.label,
            run.checkMs,
            async () => `server ${stdoutOf(await cli.docker(["version", "--format", "{{.Server.Version}}"]), "docker version").trim()}`,
          ),
        ),
      )),
    );
    const phases: Array<[string, (run: Run) => Promise<CheckRow[]>]> = [
      ["isolation, removal, name scoping, members, attach", isolationChecks],
      ["an overlay network and a volume shared across two nodes", sharedNetworkChecks],
      ["a compose app", composeChecks],
      ["host escapes", escapeChecks],
    ];
    for (const [title, phase] of rows.every((row) => row.ok) ? phases : []) {
      if (interrupted.signal) break;
      step(title);
      rows.push(...(await phase(run)));
    }
  } finally {
    step(`${interrupted.signal ? `${interrupted.signal}: ` : ""}removing everything named ${prefix}*`);
    rows.push(...(await cleanup(run)));
    rmSync(run.composeDir, { recursive: true, force: true });
    stopListening();
    if (interrupted.signal) rows.push({ check: "interrupted", host: "-", ok: false, detail: `stopped by ${interrupted.signal}: the later checks did not run` });
  }
  return report(`Tenants on ${options.endpoint.host}`, rows);
}

function readEnvFile(): Record<string, string> | undefined {
  const path = join(LOCAL_DIR, "env");
  return existsSync(path) ? parseEnvFile(readFileSync(path, "utf8")) : undefined;
}

async function main(argv: string[]): Promise<number> {
  const options = optionsOrExitCode(
    () => parseTenantArgs(argv, process.env, { localDir: LOCAL_DIR, home: homedir(), exists: existsSync, envFile: readEnvFile() }),
    USAGE,
  );
  if (typeof options === "number") return options;
  const missing = [options.tenant1, options.tenant2, options.tenant2Member].filter((dir) => !existsSync(join(dir, "config.json")));
  if (missing.length > 0) {
    console.error(`no docker config.json in ${missing.join(", ")} (write one with npm run docker-config, or start the local cluster)`);
    return 2;
  }
  try {
    return await smoke(options);
  } catch (error) {
    console.error(`smoke:tenants: ${(error as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
