/**
 * The local cloud (README "The local cloud: the OpenStack path without OpenStack"): the Pulumi
 * program's own VMs as systemd-nspawn machines on this machine, provisioned by the program's own
 * commands over SSH through the bastion. Run as root:
 *   npm run cloud:up      the program under the local cloud's mocks; every server it declares
 *                         boots from its user data; every command runs in dependency order, again
 *                         only when the engine would run it again (idempotent)
 *   npm run cloud:status  the machines and the commands' last results (non-zero exit if one is down)
 *   npm run cloud:down    every machine, the bridge and the package cache process; the caches stay
 *   npm run cloud:reboot <machine>    `systemctl reboot` inside; waits until it is back
 *   npm run cloud:poweroff <machine>  `systemctl poweroff` inside; the next `cloud:up` boots it again
 *   npm run cloud:leftovers           what of the local cloud is still here (exit 1 if anything)
 * The stack is stacks/Pulumi.local-cloud.yaml (Debian 12, docker.io 20.10); BERTH_CLOUD_STACK names
 * another of the local cloud's stacks, e.g. `BERTH_CLOUD_STACK=local-cloud-current npm run cloud:up`
 * (Debian 13, the current engine line). One cloud at a time: `up` refuses a state folder another
 * stack's cloud left (`cloud:down` first); the other commands act on whichever cloud is there.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RecordedResource } from "./lib/mock-cloud.ts";
import { step, table } from "./lib/console.ts";
import { NFS_SHARES } from "../infra/roles.ts";
import { commandsInOrder, commandsOn, commandsToRun, machinesOf, rulesByGroup, type Command } from "./local-cloud/graph.ts";
import { runCommand } from "./local-cloud/commands.ts";
import { firewallRules } from "./local-cloud/firewall.ts";
import {
  applyFirewall,
  aptCacheDown,
  aptCacheUp,
  baseImage,
  bootMachine,
  bridgeDown,
  bridgeUp,
  cloudLayout,
  destroyMachine,
  inMachine,
  isRunning,
  leftovers,
  machineNames,
  powerOffMachine,
  rebootMachine,
  removeFirewall,
  sharesDown,
  sharesUp,
  type CloudLayout,
} from "./local-cloud/machines.ts";
import { keystoneDown, keystoneUp } from "./local-cloud/keystone.ts";
import { baseReleaseOf, baseReleasesFor } from "./local-cloud/images.ts";
import { runProgram, stackFile } from "./local-cloud/program.ts";
import { chosenStack, LOCAL_CLOUD_STACK, stateRefusal } from "./local-cloud/stack.ts";
import { cloudEnvFile, importBusybox, tenantsDir, tenantsUp } from "./local-cloud/tenants.ts";

const FLOATING_CIDR = "10.95.200.0/24";
/**
 * This kernel has no NFS server (nor client): the NFS server's provisioning runs for real and fails
 * where the kernel's nfsd is needed. Its result is reported, and the rest of the graph goes on as if
 * it had succeeded; the shares are host folders bound into the machines that mount them (README).
 */
const KERNEL_LIMITED_ROLES = new Set(["nfs"]);

interface CloudState {
  /** The last run's resources, without the commands that did not succeed: what the next run diffs against. */
  resources: RecordedResource[];
  /** Command name -> what its last run did. */
  results: Record<string, string>;
}

const stateFile = (layout: CloudLayout) => join(layout.stateDir, "state.json");
const stackMarker = (layout: CloudLayout) => join(layout.stateDir, "stack");
/** The stack the state folder's cloud runs: its marker, local-cloud for a folder from before stacks were chosen, none for no folder. */
const recordedStack = (layout: CloudLayout): string | undefined =>
  existsSync(stackMarker(layout))
    ? readFileSync(stackMarker(layout), "utf8").trim()
    : existsSync(layout.stateDir) && readdirSync(layout.stateDir).length > 0
      ? LOCAL_CLOUD_STACK
      : undefined;
const readState = (layout: CloudLayout): CloudState =>
  existsSync(stateFile(layout)) ? JSON.parse(readFileSync(stateFile(layout), "utf8")) : { resources: [], results: {} };

async function up(layout: CloudLayout, stack: string): Promise<boolean> {
  const started = Date.now();
  if (!existsSync(stackFile(stack))) throw new Error(`no stack file ${stackFile(stack)}`);
  const refusal = stateRefusal(recordedStack(layout), stack, layout.stateDir);
  if (refusal) throw new Error(refusal);
  mkdirSync(layout.stateDir, { recursive: true });
  writeFileSync(stackMarker(layout), `${stack}\n`);
  step(`bridge ${layout.bridge}, the package cache and the cloud's Keystone`);
  bridgeUp(layout);
  sharesUp(layout);
  const aptProxy = aptCacheUp(layout);
  const keystone = await keystoneUp(layout);
  console.log(`    Keystone: ${keystone.url}`);

  step(`the program (infra/index.ts) under the local cloud's mocks, stack ${stack}`);
  const { resources, outputs } = await runProgram({ stateDir: layout.stateDir, floatingCidr: FLOATING_CIDR }, stack);
  // The stack outputs, where `pulumi stack output` would give them: the smoke scripts read these.
  writeFileSync(join(layout.stateDir, "inventory.json"), `${JSON.stringify(outputs.inventory, null, 2)}\n`);
  writeFileSync(join(layout.stateDir, "ssh-key"), outputs.sshPrivateKey, { mode: 0o600 });
  writeFileSync(join(layout.stateDir, "ca.pem"), outputs.caCertificate);
  const machines = machinesOf(resources);
  const commands = commandsInOrder(resources);
  console.log(`    ${resources.length} resources: ${machines.length} servers, ${commands.length} commands`);

  // Only the base images the servers boot from (their images are known once the program ran).
  for (const release of baseReleasesFor(machines.map((machine) => machine.imageId))) {
    step(`base image ${release}`);
    baseImage(layout, release);
  }

  step("machines: one per server, booted from the user data the program rendered");
  for (const machine of machines) {
    const wasRunning = isRunning(layout, machine.name);
    bootMachine(layout, machine, {
      aptProxy,
      dnsServers: [layout.hostAddress],
      shares: machine.role === "nfs" || machine.role === "etcd" ? [] : [...NFS_SHARES],
    });
    console.log(
      `    ${machine.name} (${machine.role}, ${baseReleaseOf(machine.imageId)}) ${machine.address}${machine.floatingAddress ? ` / ${machine.floatingAddress}` : ""}: ${wasRunning ? "running" : "booting"}`,
    );
  }

  step("security groups: each machine's ingress filtered by its groups' rules");
  applyFirewall(layout, firewallRules(machines, rulesByGroup(resources)));

  const previous = readState(layout);
  const toRun = commandsToRun(commands, resources, previous.resources);
  step(`commands: ${toRun.size} of ${commands.length} to run (the rest unchanged since their last run)`);
  const limited = commandsOn(
    commands,
    machines.filter((machine) => KERNEL_LIMITED_ROLES.has(machine.role)),
  );
  const results = await runInOrder(commands, toRun, previous.results, limited);
  const failed = new Set(
    Object.entries(results)
      .filter(([, result]) => result.startsWith("failed") || result.startsWith("skipped"))
      .map(([name]) => name),
  );
  const state: CloudState = { resources: resources.filter((resource) => !failed.has(resource.name)), results };
  writeFileSync(stateFile(layout), JSON.stringify(state), { mode: 0o600 });
  const provisioned = Object.values(results).every((result) => !result.startsWith("failed") && !result.startsWith("skipped"));

  console.log();
  console.log(table([["command", "result"], ...commands.map((command) => [command.name, results[command.name]!.split("\n")[0]!])], { rule: true }));
  if (provisioned) {
    step("tenants: Keystone's projects and users, a docker config dir per user, busybox:latest on the nodes");
    const tokens = await tenantsUp(layout, keystone, outputs.inventory.proxy.endpoint, join(layout.stateDir, "ca.pem"));
    await importBusybox(
      layout,
      machines.filter((machine) => machine.role === "node").map((machine) => machine.name),
    );
    console.log(
      table([["USER", "PROJECT", "TRY"], ...tokens.map((token) => [token.user, token.project, `docker --config ${join(tenantsDir(layout), token.user)} ps`])]),
    );
    console.log(`\`. ${cloudEnvFile(layout)}\` sets DOCKER_HOST and TLS for the tenant docker-user-1; \`berth_user <user>\` switches.`);
  }
  console.log(
    `\nlocal cloud: ${machines.length} machines, ${commands.length - failed.size}/${commands.length} commands done, in ${Math.round((Date.now() - started) / 1000)} s`,
  );
  return provisioned;
}

/**
 * Runs each command as soon as every command before it is done, as the engine does (in parallel
 * otherwise), until all ran, failed or were skipped because one before them failed.
 * `limited`: commands that fail on this kernel; their failure is reported as such and blocks nothing.
 */
async function runInOrder(commands: Command[], toRun: Set<string>, before: Record<string, string>, limited: Set<string>): Promise<Record<string, string>> {
  const results: Record<string, string> = {};
  const finished = new Map<string, Promise<boolean>>();
  const byUrn = new Map(commands.map((command) => [command.urn, command]));
  const outcome = (urn: string): Promise<boolean> => {
    if (!finished.has(urn)) finished.set(urn, execute(byUrn.get(urn)!));
    return finished.get(urn)!;
  };
  const execute = async (command: Command): Promise<boolean> => {
    const earlier = await Promise.all(command.after.map(outcome));
    if (earlier.some((ok) => !ok)) {
      results[command.name] = "skipped: an earlier command failed";
      return false;
    }
    if (!toRun.has(command.urn)) {
      results[command.name] = before[command.name] ?? "unchanged";
      return true;
    }
    const startedAt = Date.now();
    console.log(`    ${command.name}: running`);
    try {
      await runCommand(command);
      results[command.name] = `ran in ${Math.round((Date.now() - startedAt) / 1000)} s`;
    } catch (error) {
      const limitedHere = limited.has(command.urn);
      results[command.name] = `${limitedHere ? "not on this kernel (no NFS)" : "failed"}: ${(error as Error).message}`;
      console.log(`    ${command.name}: ${results[command.name]}`);
      if (!limitedHere) return false;
    }
    console.log(`    ${command.name}: ${results[command.name]!.split("\n")[0]}`);
    return true;
  };
  await Promise.all(commands.map((command) => outcome(command.urn)));
  return results;
}

async function down(layout: CloudLayout): Promise<void> {
  for (const name of machineNames(layout)) {
    step(`machine ${name}`);
    await destroyMachine(layout, name);
  }
  step("Keystone, package cache process, firewall, bridge, state (the base image and the package cache stay)");
  await keystoneDown(layout);
  aptCacheDown(layout);
  removeFirewall(layout);
  sharesDown(layout);
  bridgeDown(layout);
  for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
    const parent = join("/sys/fs/cgroup", hierarchy, "berth-cloud");
    if (existsSync(parent)) rmdirSync(parent);
  }
  rmSync(layout.stateDir, { recursive: true, force: true });
}

function status(layout: CloudLayout): boolean {
  const names = machineNames(layout);
  const rows = names.map((name) => [
    name,
    isRunning(layout, name) ? "running" : "off",
    inMachine(layout, name, "cloud-init status 2>/dev/null | sed -n 's/^status: //p'")?.trim() ?? "-",
  ]);
  console.log(table([["machine", "state", "cloud-init"], ...rows], { rule: true }));
  const { results } = readState(layout);
  console.log(table([["command", "last result"], ...Object.entries(results).map(([name, result]) => [name, result.split("\n")[0]!])], { rule: true }));
  return (
    names.length > 0 &&
    rows.every((row) => row[1] === "running") &&
    Object.values(results).every((result) => !result.startsWith("failed") && !result.startsWith("skipped"))
  );
}

/** A machine by its server name, or by the part after the stack's prefix (docker-host-1). */
function machineNamed(layout: CloudLayout, name: string | undefined): string {
  const names = machineNames(layout);
  const found = names.find((candidate) => candidate === name) ?? names.find((candidate) => name !== undefined && candidate.endsWith(`-${name}`));
  if (!found) throw new Error(`no machine ${name ?? "(none given)"}; the machines are ${names.join(", ") || "none"}`);
  return found;
}

async function main(command: string | undefined, argument: string | undefined): Promise<number> {
  const layout = cloudLayout();
  switch (command) {
    case "reboot": {
      const name = machineNamed(layout, argument);
      step(`rebooting ${name} (systemctl reboot inside)`);
      await rebootMachine(layout, name);
      console.log(`${name} is up again`);
      return 0;
    }
    case "poweroff": {
      const name = machineNamed(layout, argument);
      step(`powering ${name} off (systemctl poweroff inside)`);
      await powerOffMachine(layout, name);
      console.log(`${name} is off; \`npm run cloud:up\` boots it again`);
      return 0;
    }
    case "leftovers": {
      const left = leftovers(layout);
      for (const thing of left) console.log(`left behind: ${thing}`);
      console.log(left.length === 0 ? "nothing of the local cloud is left" : `${left.length} thing(s) of the local cloud left behind`);
      return left.length === 0 ? 0 : 1;
    }
    case "up":
      return (await up(layout, chosenStack(process.env))) ? 0 : 1;
    case "down":
      await down(layout);
      return 0;
    case "status":
      return status(layout) ? 0 : 1;
  }
  console.error("usage: tsx scripts/local-cloud.ts up|down|status|leftovers|reboot <machine>|poweroff <machine>");
  return 2;
}

main(process.argv[2], process.argv[3]).then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`local cloud ${process.argv[2]} failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
