/**
 * The smoke scripts' command lines, parsed without touching the machine (what exists, the
 * environment and the home directory are passed in) so the defaults and their precedence are
 * unit-tested: flags first, then the DOCKER_* environment, then the local cluster's `.local/`.
 */
import { join, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {}

/**
 * A script's options from `parse`, or the exit code once it has answered for itself: 0 after
 * printing the usage for --help, 2 after a usage error (with the usage).
 */
export function optionsOrExitCode<T>(parse: () => T | "help", usage: string): T | number {
  try {
    const options = parse();
    if (options !== "help") return options;
    console.log(usage);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${usage}`);
    return 2;
  }
}

/** Where the local cluster keeps what the smoke scripts default to. */
export interface LocalDefaults {
  /** The `.local/` folder of the checkout. */
  localDir: string;
  home: string;
  exists(path: string): boolean;
}

function parse(argv: string[], options: NonNullable<ParseArgsConfig["options"]>): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean" } }, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function positiveSeconds(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`${flag} takes a number of seconds, not ${JSON.stringify(value)}`);
  return seconds * 1000;
}

export type InventorySource = { kind: "file"; path: string } | { kind: "stack"; stack: string };

export interface ConnectivityOptions {
  inventory: InventorySource;
  sshKey: string;
  /** Per check. */
  timeoutMs: number;
}

export function parseConnectivityArgs(argv: string[], local: LocalDefaults): ConnectivityOptions | "help" {
  const values = parse(argv, {
    inventory: { type: "string" },
    stack: { type: "string" },
    "ssh-key": { type: "string" },
    timeout: { type: "string" },
  }) as { inventory?: string; stack?: string; "ssh-key"?: string; timeout?: string; help?: boolean };
  if (values.help) return "help";
  if (values.inventory !== undefined && values.stack !== undefined) throw new UsageError("give --inventory or --stack, not both");
  const inventory: InventorySource =
    values.stack !== undefined
      ? { kind: "stack", stack: values.stack }
      : { kind: "file", path: resolve(values.inventory ?? join(local.localDir, "inventory.json")) };
  const localKey = join(local.localDir, "ssh", "id_ed25519");
  const sshKey = resolve(values["ssh-key"] ?? (local.exists(localKey) ? localKey : join(local.home, ".ssh", "id_ed25519")));
  return { inventory, sshKey, timeoutMs: positiveSeconds(values.timeout, 15, "--timeout") };
}

export interface Endpoint {
  /** DOCKER_HOST, e.g. tcp://203.0.113.10:2376. */
  host: string;
  /** The CA to verify the endpoint with; none means plain TCP (a test proxy). */
  ca?: string;
}

export interface TenantOptions {
  tenant1: string;
  tenant2: string;
  tenant2Member: string;
  endpoint: Endpoint;
  image: string;
  /** Two node names to place the shared-network pair on; undefined: ask `docker info`. */
  nodes?: [string, string];
  /** Per docker command. */
  timeoutMs: number;
}

/** `KEY=value` and `export KEY="value"` lines of an env file (the local cluster's `.local/env`). */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*$/.exec(line);
    if (!match) continue;
    const raw = match[2]!;
    vars[match[1]!] = /^(["']).*\1$/.test(raw) ? raw.slice(1, -1) : raw;
  }
  return vars;
}

/**
 * The endpoint: `--host`/`--ca`, else DOCKER_HOST with DOCKER_TLS_VERIFY (any non-empty value, as
 * the docker CLI reads it) and DOCKER_CERT_PATH/ca.pem, else the same variables from `.local/env`.
 * With TLS and no CA named, the first tenant's config dir's ca.pem.
 */
export function resolveEndpoint(
  flags: { host?: string; ca?: string },
  env: Record<string, string | undefined>,
  envFile: Record<string, string> | undefined,
  tenant1: string,
): Endpoint {
  const source = flags.host !== undefined || env.DOCKER_HOST ? env : (envFile ?? {});
  const host = flags.host ?? source.DOCKER_HOST;
  if (!host) throw new UsageError("no endpoint: give --host, set DOCKER_HOST, or start the local cluster (.local/env)");
  if (flags.ca !== undefined) return { host, ca: resolve(flags.ca) };
  if (!source.DOCKER_TLS_VERIFY) return { host };
  return { host, ca: resolve(source.DOCKER_CERT_PATH ? join(source.DOCKER_CERT_PATH, "ca.pem") : join(tenant1, "ca.pem")) };
}

export function parseTenantArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  local: LocalDefaults & { envFile?: Record<string, string> },
): TenantOptions | "help" {
  const values = parse(argv, {
    tenant1: { type: "string" },
    tenant2: { type: "string" },
    "tenant2-member": { type: "string" },
    host: { type: "string" },
    ca: { type: "string" },
    image: { type: "string" },
    nodes: { type: "string" },
    timeout: { type: "string" },
  }) as Record<string, string | boolean | undefined>;
  if (values.help) return "help";
  const dir = (flag: string, user: string) => resolve((values[flag] as string | undefined) ?? join(local.localDir, "tenants", user));
  const tenant1 = dir("tenant1", "docker-user-1");
  let nodes: [string, string] | undefined;
  if (values.nodes !== undefined) {
    const names = String(values.nodes)
      .split(",")
      .map((n) => n.trim())
      .filter(Boolean);
    if (names.length !== 2 || names[0] === names[1]) throw new UsageError("--nodes takes two different node names: --nodes docker-host-1,docker-host-2");
    nodes = [names[0]!, names[1]!];
  }
  return {
    tenant1,
    tenant2: dir("tenant2", "docker-user-2"),
    tenant2Member: dir("tenant2-member", "docker-user-3"),
    endpoint: resolveEndpoint({ host: values.host as string | undefined, ca: values.ca as string | undefined }, env, local.envFile, tenant1),
    image: (values.image as string | undefined) ?? "busybox:latest",
    nodes,
    timeoutMs: positiveSeconds(values.timeout as string | undefined, 60, "--timeout"),
  };
}
