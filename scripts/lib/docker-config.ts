/**
 * Writes a tenant's docker config dir: config.json gets the HttpHeaders the tenant proxy
 * authenticates by (X-Auth-Token, X-Auth-TenantId), merged into whatever the file already holds
 * (auths, psFormat, other headers stay), and TLS material is copied under the names the docker CLI
 * looks for in its --config dir (ca.pem, cert.pem, key.pem). Everything is checked before anything
 * is written, and config.json is replaced atomically, so a failure leaves the old file as it was.
 *
 * With a CA and no client pair, the dir gets a throwaway self-signed pair: docker-compose 1.29
 * (docker-py's TLSConfig) refuses a DOCKER_CERT_PATH without cert.pem and key.pem ("TLS
 * configuration is invalid"), though the proxy authenticates by the Keystone token and asks for no
 * client certificate, so the pair is never even sent (a TLS client presents one only on request).
 * The dir then serves as both DOCKER_CONFIG and DOCKER_CERT_PATH, and holds no CA private key.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface DockerConfigInput {
  token: string;
  tenantId: string;
  tls?: { caFile: string; certFile?: string; keyFile?: string };
}

export const TOKEN_HEADER = "X-Auth-Token";
export const TENANT_HEADER = "X-Auth-TenantId";
const CONFIG_FILE = "config.json";

/** Sets the two headers (replacing any spelling of them) and keeps every other key and header. */
export function mergeDockerConfig(
  existing: Record<string, unknown> | undefined,
  input: Pick<DockerConfigInput, "token" | "tenantId">,
): Record<string, unknown> {
  const ours = new Set([TOKEN_HEADER.toLowerCase(), TENANT_HEADER.toLowerCase()]);
  const previous = existing?.HttpHeaders;
  const kept = isObject(previous) ? Object.entries(previous).filter(([name]) => !ours.has(name.toLowerCase())) : [];
  return { ...existing, HttpHeaders: { ...Object.fromEntries(kept), [TOKEN_HEADER]: input.token, [TENANT_HEADER]: input.tenantId } };
}

export function writeDockerConfig(configDir: string, input: DockerConfigInput): void {
  const configPath = join(configDir, CONFIG_FILE);
  const copies = tlsCopies(configDir, input.tls);
  const merged = mergeDockerConfig(readExistingConfig(configPath), input);
  const placeholder = needsPlaceholderPair(configDir, input.tls) ? placeholderClientPair() : undefined;
  try {
    mkdirSync(configDir, { recursive: true, mode: 0o700 });
    for (const copy of [...copies, ...(placeholder?.copies(configDir) ?? [])]) {
      copyFileSync(copy.from, copy.to);
      chmodSync(copy.to, copy.mode);
    }
  } finally {
    placeholder?.remove();
  }
  const temporary = `${configPath}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(merged, null, "\t")}\n`, { mode: 0o600 });
  renameSync(temporary, configPath);
}

function readExistingConfig(configPath: string): Record<string, unknown> | undefined {
  if (!existsSync(configPath)) return undefined;
  const text = readFileSync(configPath, "utf8");
  if (text.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${configPath} is not valid JSON (${(error as Error).message}); fix or remove it`);
  }
  if (!isObject(parsed)) throw new Error(`${configPath} does not hold a JSON object; fix or remove it`);
  return parsed;
}

interface Copy {
  from: string;
  to: string;
  mode: number;
}

/** The TLS files to copy, after checking they exist and that a cert comes with its key. */
function tlsCopies(configDir: string, tls: DockerConfigInput["tls"]): Copy[] {
  if (!tls) return [];
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) throw new Error("a TLS client certificate needs its key, and a key its certificate");
  const copies: Copy[] = [{ from: tls.caFile, to: join(configDir, "ca.pem"), mode: 0o644 }];
  if (tls.certFile) copies.push({ from: tls.certFile, to: join(configDir, "cert.pem"), mode: 0o644 });
  if (tls.keyFile) copies.push({ from: tls.keyFile, to: join(configDir, "key.pem"), mode: 0o600 });
  for (const copy of copies) if (!existsSync(copy.from)) throw new Error(`TLS file ${copy.from} does not exist`);
  return copies;
}

/** A CA without a client pair, in a dir that has none yet (a real pair given earlier stays). */
function needsPlaceholderPair(configDir: string, tls: DockerConfigInput["tls"]): boolean {
  return tls !== undefined && !tls.certFile && !existsSync(join(configDir, "cert.pem")) && !existsSync(join(configDir, "key.pem"));
}

/** A self-signed client pair that only satisfies docker-compose's check, made in a scratch dir. */
function placeholderClientPair(): { copies: (configDir: string) => Copy[]; remove: () => void } {
  const scratch = mkdtempSync(join(tmpdir(), "berth-client-pair-"));
  const argv = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "3650"];
  const subject = ["-subj", "/CN=berth placeholder client (the proxy authenticates by token)"];
  const result = spawnSync("openssl", [...argv, ...subject, "-keyout", join(scratch, "key.pem"), "-out", join(scratch, "cert.pem")], { encoding: "utf8" });
  if (result.status !== 0) {
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(`openssl could not make the placeholder client pair docker-compose needs: ${result.error?.message ?? result.stderr.trim()}`);
  }
  return {
    copies: (configDir) => [
      { from: join(scratch, "cert.pem"), to: join(configDir, "cert.pem"), mode: 0o644 },
      { from: join(scratch, "key.pem"), to: join(configDir, "key.pem"), mode: 0o600 },
    ],
    remove: () => rmSync(scratch, { recursive: true, force: true }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
