/**
 * Writes a tenant's docker config dir: config.json gets the HttpHeaders the tenant proxy
 * authenticates by (X-Auth-Token, X-Auth-TenantId), merged into whatever the file already holds
 * (auths, psFormat, other headers stay), and TLS material is copied under the names the docker CLI
 * looks for in its --config dir (ca.pem, cert.pem, key.pem). Everything is checked before anything
 * is written, and config.json is replaced atomically, so a failure leaves the old file as it was.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
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
export function mergeDockerConfig(existing: Record<string, unknown> | undefined, input: Pick<DockerConfigInput, "token" | "tenantId">): Record<string, unknown> {
  const ours = new Set([TOKEN_HEADER.toLowerCase(), TENANT_HEADER.toLowerCase()]);
  const previous = existing?.HttpHeaders;
  const kept = isObject(previous) ? Object.entries(previous).filter(([name]) => !ours.has(name.toLowerCase())) : [];
  return { ...existing, HttpHeaders: { ...Object.fromEntries(kept), [TOKEN_HEADER]: input.token, [TENANT_HEADER]: input.tenantId } };
}

export function writeDockerConfig(configDir: string, input: DockerConfigInput): void {
  const configPath = join(configDir, CONFIG_FILE);
  const copies = tlsCopies(configDir, input.tls);
  const merged = mergeDockerConfig(readExistingConfig(configPath), input);
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  for (const copy of copies) {
    copyFileSync(copy.from, copy.to);
    chmodSync(copy.to, copy.mode);
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
