/**
 * Tests judge the stock docker CLIs by what they print and how they exit, so running a command
 * must never throw on a non-zero exit: the caller asserts on the result. A command that hangs is
 * killed after its timeout and reported as exit code 124 (as `timeout(1)` does), so a stuck CLI
 * fails one test instead of the whole run. The docker CLIs get a clean environment: DOCKER_*
 * variables of the machine never leak in, and only the host and config directory the test chose
 * are set.
 */
import { spawn } from "node:child_process";

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
const NOT_STARTED = 127;

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

function runWithEnvironment(argv: string[], env: NodeJS.ProcessEnv, opts: CommandOptions): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error("a command needs a program to run");
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: opts.cwd, env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on("error", () => {}); // a program that exits without reading its input
    child.stdin.end(opts.input);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: NOT_STARTED, stdout: "", stderr: `${file}: ${error.message}\n` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const err = Buffer.concat(stderr).toString("utf8");
      resolve({
        code: timedOut ? TIMED_OUT : (code ?? 128),
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: timedOut ? `${err}\n${argv.join(" ")}: killed after ${timeoutMs} ms\n` : signal ? `${err}\nkilled by ${signal}\n` : err,
      });
    });
  });
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
