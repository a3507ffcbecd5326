/**
 * Tests judge the stock docker CLIs by what they print and how they exit, so running a command
 * must never throw on a non-zero exit: the caller asserts on the result. A command that hangs is
 * killed after its timeout and reported as exit code 124 (as `timeout(1)` does), so a stuck CLI
 * fails one test instead of the whole run. The docker CLIs get a clean environment: DOCKER_*
 * variables of the machine never leak in, and only the host and config directory the test chose
 * are set.
 */
import { $ } from "zx";

export const DOCKER_CLIS = { docker28: "/usr/local/bin/docker", docker20: "/usr/bin/docker" } as const;
export type DockerCli = keyof typeof DOCKER_CLIS;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env?: Record<string, string>;
  input?: string | Buffer;
  timeoutMs?: number;
  cwd?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const TIMED_OUT = 124;

/**
 * This process's environment without the docker client's settings. A developer who sourced the
 * local cluster's .local/env has DOCKER_HOST and DOCKER_TLS_VERIFY set: a CLI the harness runs
 * would then talk TLS to a plain engine, and dockerd itself reads DOCKER_TLS_VERIFY and
 * DOCKER_CERT_PATH and refuses to start without certificates. What the harness runs gets only
 * the DOCKER_* settings it passes on purpose.
 */
export function withoutDockerSettings(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith("DOCKER_")));
}

/** Runs argv to completion; `env` is added to this process's environment (less its DOCKER_* settings). */
export function runCommand(argv: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return runWithEnvironment(argv, { ...withoutDockerSettings(), ...opts.env }, opts);
}

/**
 * zx runs the program (through bash, every argument quoted) and kills it, with whatever it started,
 * at the timeout; `nothrow` makes every exit a result. Only the quoting shell's own "not found"
 * (127) and the kill (124 here) need translating into what callers assert on.
 */
async function runWithEnvironment(argv: string[], env: NodeJS.ProcessEnv, opts: CommandOptions): Promise<CommandResult> {
  if (argv.length === 0) throw new Error("a command needs a program to run");
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const output = await $({
    env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    input: opts.input ?? "",
    timeout: timeoutMs,
    timeoutSignal: "SIGKILL",
    nothrow: true,
    quiet: true,
    verbose: false,
  })`${argv}`;
  const timedOut = output.signal === "SIGKILL" && output.duration >= timeoutMs;
  return {
    code: timedOut ? TIMED_OUT : (output.exitCode ?? 128),
    stdout: output.stdout,
    stderr: timedOut
      ? `${output.stderr}\n${argv.join(" ")}: killed after ${timeoutMs} ms\n`
      : output.signal
        ? `${output.stderr}\nkilled by ${output.signal}\n`
        : output.stderr,
  };
}

/** Like runCommand, but a non-zero exit is an error naming the command and its stderr. */
export async function runChecked(argv: string[], opts: CommandOptions = {}): Promise<string> {
  return succeeded(await runCommand(argv, opts), argv.join(" "));
}

/** The stdout of a successful command; otherwise an error naming `what` and its stderr. */
export function succeeded(result: CommandResult, what: string): string {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

export interface DockerRunOptions {
  env?: Record<string, string>;
  /** DOCKER_HOST, e.g. an engine's `host` or the proxy's `tcp://127.0.0.1:<port>`. */
  host?: string;
  /** DOCKER_CONFIG: a directory holding the config.json (HttpHeaders) the CLI should use. */
  configDir?: string;
  input?: string | Buffer;
  timeoutMs?: number;
}

/** Runs one of the installed docker CLIs; never throws on a non-zero exit. */
export function runDocker(cli: DockerCli, args: string[], opts: DockerRunOptions = {}): Promise<CommandResult> {
  const env: NodeJS.ProcessEnv = { ...withoutDockerSettings(), DOCKER_CLI_HINTS: "false", ...opts.env };
  if (opts.host) env.DOCKER_HOST = opts.host;
  if (opts.configDir) env.DOCKER_CONFIG = opts.configDir;
  return runWithEnvironment([DOCKER_CLIS[cli], ...args], env, opts);
}
