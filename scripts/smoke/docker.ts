/**
 * The stock `docker` and `docker-compose` CLIs as one tenant user: its config dir (whose
 * HttpHeaders carry the token and tenant id) and the endpoint, with TLS verified against the given
 * CA when there is one. Endpoint and TLS are passed as flags and the DOCKER_TLS_VERIFY/CERT_PATH of
 * the caller's environment are blanked, so what the smoke test uses is exactly what it was told.
 * A command never throws: the caller judges code, stdout and stderr; a hung one is killed.
 */
import { basename } from "node:path";
import { type CommandResult, runCommand } from "../harness/index.ts";
import type { Endpoint } from "./args.ts";

export type { CommandResult };

export interface TenantCli {
  /** The user, as shown in the results (its config dir's name). */
  label: string;
  configDir: string;
  docker(args: string[], opts?: { timeoutMs?: number }): Promise<CommandResult>;
  compose(project: string, dir: string, args: string[]): Promise<CommandResult>;
}

const CLEAN_ENV = { DOCKER_TLS_VERIFY: "", DOCKER_CERT_PATH: "", DOCKER_CONTEXT: "", DOCKER_CLI_HINTS: "false" };

function tlsFlags(endpoint: Endpoint): string[] {
  return endpoint.ca ? ["--tlsverify", "--tlscacert", endpoint.ca] : [];
}

export function tenantCli(configDir: string, endpoint: Endpoint, timeoutMs: number): TenantCli {
  const connection = ["-H", endpoint.host, ...tlsFlags(endpoint)];
  return {
    label: basename(configDir),
    configDir,
    docker: (args, opts = {}) =>
      runCommand(["docker", "--config", configDir, ...connection, ...args], {
        env: { ...CLEAN_ENV, DOCKER_HOST: endpoint.host },
        timeoutMs: opts.timeoutMs ?? timeoutMs,
      }),
    // docker-compose reads the HttpHeaders from $DOCKER_CONFIG/config.json, as the docker CLI does.
    // requests (under docker-compose) lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the CA
    // docker-py sets from --tlscacert: blank them, or the cluster's CA is never used.
    compose: (project, dir, args) =>
      runCommand(["docker-compose", "--ansi", "never", ...connection, "-p", project, ...args], {
        cwd: dir,
        env: {
          ...CLEAN_ENV,
          DOCKER_HOST: endpoint.host,
          DOCKER_CONFIG: configDir,
          COMPOSE_HTTP_TIMEOUT: String(Math.ceil(timeoutMs / 1000)),
          REQUESTS_CA_BUNDLE: "",
          CURL_CA_BUNDLE: "",
        },
        timeoutMs: timeoutMs * 3,
      }),
  };
}

/** The stdout of a successful command; otherwise an error with the command and what it said. */
export function stdoutOf(result: CommandResult, what: string): string {
  if (result.code !== 0) throw new Error(`${what}: exit ${result.code}: ${(result.stderr.trim() || result.stdout.trim()).split("\n").slice(-2).join(" ")}`);
  return result.stdout;
}
