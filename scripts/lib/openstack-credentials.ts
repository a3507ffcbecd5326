/**
 * Where a user's Keystone credentials come from, as the OpenStack clients read them: command-line
 * flags, then OS_* variables (an openrc file), then a cloud of clouds.yaml. Each source is turned
 * into the same flat settings, and resolveCredentials() picks per setting the first source that has
 * it. Pure (no files, no environment read here) so the precedence is unit-tested; the callers do
 * the reading.
 */
import { parse as parseYaml } from "yaml";
import type { KeystoneCredentials } from "./keystone-token.ts";

export type AuthType = "password" | "v3applicationcredential";

/** One source's settings; every field optional. */
export interface CredentialSettings extends Partial<Omit<KeystoneCredentials, "method">> {
  authType?: AuthType;
}

export interface CredentialSources {
  flags: CredentialSettings;
  env: CredentialSettings;
  /** The chosen cloud of clouds.yaml, if any. */
  cloud?: CredentialSettings;
}

type Key = keyof CredentialSettings;

/**
 * Settings that name one thing in two ways are taken together from one source, so that
 * `--project-name` on the command line is not overridden by an OS_PROJECT_ID in the environment.
 */
const GROUPS: Key[][] = [
  ["authUrl"],
  ["userId", "username"],
  ["userDomainId", "userDomainName"],
  ["password"],
  ["projectId", "projectName"],
  ["projectDomainId", "projectDomainName"],
  ["applicationCredentialId", "applicationCredentialName"],
  ["applicationCredentialSecret"],
];

/** Where each setting can be given, for messages about missing ones. */
const MISSING = {
  authUrl: "the Keystone auth URL: give --auth-url, OS_AUTH_URL or auth.auth_url in clouds.yaml",
  user: "a user: give --username, OS_USERNAME or auth.username in clouds.yaml",
  password: "a password: give --password, OS_PASSWORD or auth.password in clouds.yaml",
  project: "a project: give --project-name or --project-id, OS_PROJECT_NAME or OS_PROJECT_ID, or auth.project_name or auth.project_id in clouds.yaml",
  applicationCredential:
    "an application credential: give --application-credential-id (or --application-credential-name with --username), OS_APPLICATION_CREDENTIAL_ID or auth.application_credential_id in clouds.yaml",
  applicationCredentialSecret:
    "the application credential's secret: give --application-credential-secret, OS_APPLICATION_CREDENTIAL_SECRET or auth.application_credential_secret in clouds.yaml",
};

/** Flags > OS_* > clouds.yaml; throws one Error naming every missing setting and where to give it. */
export function resolveCredentials(sources: CredentialSources): KeystoneCredentials {
  const ordered = [sources.flags, sources.env, sources.cloud ?? {}].map(withInferredAuthType);
  const merged: Partial<KeystoneCredentials> = {};
  for (const group of GROUPS) {
    const source = ordered.find((settings) => group.some((key) => settings[key] !== undefined));
    if (source) for (const key of group) if (source[key] !== undefined) Object.assign(merged, { [key]: source[key] });
  }
  const authType = ordered.find((settings) => settings.authType)?.authType ?? "password";
  const method = authType === "v3applicationcredential" ? "application-credential" : "password";
  const missing = missingSettings({ ...merged, method });
  if (missing.length > 0) throw new Error(`missing settings:\n${missing.map((name) => `  - ${MISSING[name]}`).join("\n")}`);
  return { ...merged, authUrl: merged.authUrl!, method };
}

/** A source that carries an application credential or a password means that method unless it says otherwise. */
function withInferredAuthType(settings: CredentialSettings): CredentialSettings {
  if (settings.authType) return settings;
  if (settings.applicationCredentialSecret || settings.applicationCredentialId) return { ...settings, authType: "v3applicationcredential" };
  if (settings.password) return { ...settings, authType: "password" };
  return settings;
}

function missingSettings(c: Partial<KeystoneCredentials>): (keyof typeof MISSING)[] {
  const missing: (keyof typeof MISSING)[] = [];
  if (!c.authUrl) missing.push("authUrl");
  if (c.method === "application-credential") {
    if (!c.applicationCredentialId && !(c.applicationCredentialName && (c.username || c.userId))) missing.push("applicationCredential");
    if (!c.applicationCredentialSecret) missing.push("applicationCredentialSecret");
    return missing;
  }
  if (!c.username && !c.userId) missing.push("user");
  if (!c.password) missing.push("password");
  if (!c.projectName && !c.projectId) missing.push("project");
  return missing;
}

/** The OS_* variables of an openrc file (OS_TENANT_* as the older names of OS_PROJECT_*). */
export function settingsFromEnv(env: Record<string, string | undefined>): CredentialSettings {
  const authType = env.OS_AUTH_TYPE;
  return defined({
    authUrl: env.OS_AUTH_URL,
    username: env.OS_USERNAME,
    userId: env.OS_USER_ID,
    userDomainName: env.OS_USER_DOMAIN_NAME,
    userDomainId: env.OS_USER_DOMAIN_ID,
    password: env.OS_PASSWORD,
    projectName: env.OS_PROJECT_NAME ?? env.OS_TENANT_NAME,
    projectId: env.OS_PROJECT_ID ?? env.OS_TENANT_ID,
    projectDomainName: env.OS_PROJECT_DOMAIN_NAME,
    projectDomainId: env.OS_PROJECT_DOMAIN_ID,
    applicationCredentialId: env.OS_APPLICATION_CREDENTIAL_ID,
    applicationCredentialName: env.OS_APPLICATION_CREDENTIAL_NAME,
    applicationCredentialSecret: env.OS_APPLICATION_CREDENTIAL_SECRET,
    authType: authType ? authTypeOf(authType, "OS_AUTH_TYPE") : undefined,
  });
}

/**
 * The named cloud of a clouds.yaml document. Without a name, the file's only cloud if it has
 * exactly one (else none). Throws when the named cloud is not there.
 */
export function settingsFromCloudsYaml(text: string, file: string, cloudName?: string): { name: string; settings: CredentialSettings } | undefined {
  const document: unknown = parseYaml(text);
  const clouds = isObject(document) && isObject(document.clouds) ? document.clouds : {};
  const names = Object.keys(clouds);
  const name = cloudName ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined) return undefined;
  const cloud = clouds[name];
  if (!isObject(cloud)) throw new Error(`cloud "${name}" is not in ${file} (it has: ${names.join(", ") || "no clouds"})`);
  const auth = isObject(cloud.auth) ? cloud.auth : {};
  const text_ = (key: string) => (typeof auth[key] === "string" || typeof auth[key] === "number" ? String(auth[key]) : undefined);
  return {
    name,
    settings: defined({
      authUrl: text_("auth_url"),
      username: text_("username"),
      userId: text_("user_id"),
      userDomainName: text_("user_domain_name"),
      userDomainId: text_("user_domain_id"),
      password: text_("password"),
      projectName: text_("project_name"),
      projectId: text_("project_id"),
      projectDomainName: text_("project_domain_name"),
      projectDomainId: text_("project_domain_id"),
      applicationCredentialId: text_("application_credential_id"),
      applicationCredentialName: text_("application_credential_name"),
      applicationCredentialSecret: text_("application_credential_secret"),
      authType: typeof cloud.auth_type === "string" ? authTypeOf(cloud.auth_type, `auth_type of cloud "${name}"`) : undefined,
    }),
  };
}

function authTypeOf(value: string, where: string): AuthType {
  if (value === "password" || value === "v3password") return "password";
  if (value === "v3applicationcredential") return "v3applicationcredential";
  throw new Error(`${where} is "${value}": only password and v3applicationcredential are supported`);
}

function defined(settings: CredentialSettings): CredentialSettings {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined && value !== "")) as CredentialSettings;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
