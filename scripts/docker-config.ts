/**
 * npm run docker-config -- [flags]: FDCS's set_docker_conf.bash for berth. Gets a project-scoped
 * Keystone v3 token (password or application credential; from flags, OS_* variables or
 * clouds.yaml, in that order) and writes the docker config dir the tenant proxy expects:
 * config.json's HttpHeaders X-Auth-Token and X-Auth-TenantId (the project id), merged into what the
 * file already has, and the TLS files if given. On any error it says what is wrong, exits 1 and
 * leaves config.json as it was.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { step } from "./lib/console.ts";
import { writeDockerConfig, type DockerConfigInput } from "./lib/docker-config.ts";
import { issueKeystoneToken, type IssuedToken, type KeystoneCredentials } from "./lib/keystone-token.ts";
import { resolveCredentials, settingsFromCloudsYaml, settingsFromEnv, type CredentialSettings } from "./lib/openstack-credentials.ts";

const USAGE = `Usage: npm run docker-config -- [options]

Gets a Keystone token for a user and project and writes it into a docker config dir
(config.json HttpHeaders X-Auth-Token and X-Auth-TenantId), for use with a berth endpoint.
Settings come from these flags, then OS_* variables (an openrc file), then clouds.yaml
(OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml).

  --config-dir DIR                      docker config dir (default: $DOCKER_CONFIG or ~/.docker)
  --auth-url URL                        Keystone endpoint, with or without /v3   (OS_AUTH_URL)
  --username NAME                       user name                                (OS_USERNAME)
  --password PASSWORD                   password; better from OS_PASSWORD        (OS_PASSWORD)
  --user-domain NAME                    the user's domain (default: Default)     (OS_USER_DOMAIN_NAME)
  --project-name NAME | --project-id ID the project (tenant)                     (OS_PROJECT_NAME, OS_PROJECT_ID)
  --project-domain NAME                 the project's domain (default: Default)  (OS_PROJECT_DOMAIN_NAME)
  --application-credential-id ID        an application credential instead of a password
  --application-credential-name NAME      (by name: with --username)             (OS_APPLICATION_CREDENTIAL_ID/NAME)
  --application-credential-secret S     its secret                               (OS_APPLICATION_CREDENTIAL_SECRET)
  --os-cloud NAME                       the cloud of clouds.yaml to use          (OS_CLOUD)
  --tls-ca FILE                         CA of the berth endpoint, copied as ca.pem
  --tls-cert FILE --tls-key FILE        client certificate and key, copied as cert.pem and key.pem
                                        (none given: a placeholder pair, which docker-compose insists on)
  --help                                this text

Then: docker --config DIR -H tcp://<berth>:2376 --tlsverify ps
or:   DOCKER_HOST=tcp://<berth>:2376 DOCKER_TLS_VERIFY=1 DOCKER_CONFIG=DIR DOCKER_CERT_PATH=DIR docker-compose up`;

const OPTIONS = {
  "config-dir": { type: "string" },
  "auth-url": { type: "string" },
  username: { type: "string" },
  password: { type: "string" },
  "user-domain": { type: "string" },
  "project-name": { type: "string" },
  "project-id": { type: "string" },
  "project-domain": { type: "string" },
  "application-credential-id": { type: "string" },
  "application-credential-name": { type: "string" },
  "application-credential-secret": { type: "string" },
  "os-cloud": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  help: { type: "boolean" },
} as const;

type Flags = ReturnType<typeof parseFlags>;

function parseFlags(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
}

function settingsFromFlags(flags: Flags): CredentialSettings {
  const settings: CredentialSettings = {
    authUrl: flags["auth-url"],
    username: flags.username,
    password: flags.password,
    userDomainName: flags["user-domain"],
    projectName: flags["project-name"],
    projectId: flags["project-id"],
    projectDomainName: flags["project-domain"],
    applicationCredentialId: flags["application-credential-id"],
    applicationCredentialName: flags["application-credential-name"],
    applicationCredentialSecret: flags["application-credential-secret"],
  };
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as CredentialSettings;
}

function cloudsYamlCandidates(env: NodeJS.ProcessEnv): string[] {
  return [env.OS_CLIENT_CONFIG_FILE, resolve("clouds.yaml"), join(homedir(), ".config/openstack/clouds.yaml"), "/etc/openstack/clouds.yaml"].filter(
    (file): file is string => Boolean(file),
  );
}

/** The chosen cloud of the first clouds.yaml found; a named cloud that is nowhere is an error. */
function cloudSettings(cloudName: string | undefined, env: NodeJS.ProcessEnv): { label: string; settings: CredentialSettings } | undefined {
  const file = cloudsYamlCandidates(env).find((candidate) => existsSync(candidate));
  if (!file) {
    if (cloudName) throw new Error(`cloud "${cloudName}" was asked for but no clouds.yaml was found (looked at ${cloudsYamlCandidates(env).join(", ")})`);
    return undefined;
  }
  const cloud = settingsFromCloudsYaml(readFileSync(file, "utf8"), file, cloudName);
  return cloud && { label: `cloud "${cloud.name}" of ${file}`, settings: cloud.settings };
}

function tlsInput(flags: Flags): DockerConfigInput["tls"] {
  if (!flags["tls-ca"]) {
    if (flags["tls-cert"] || flags["tls-key"]) throw new Error("--tls-cert and --tls-key need --tls-ca (the CA of the berth endpoint)");
    return undefined;
  }
  return { caFile: flags["tls-ca"], certFile: flags["tls-cert"], keyFile: flags["tls-key"] };
}

function describeWho(credentials: KeystoneCredentials): string {
  const user = credentials.username ?? credentials.userId;
  if (credentials.method === "application-credential") {
    return `application credential ${credentials.applicationCredentialId ?? `"${credentials.applicationCredentialName}" of "${user}"`}`;
  }
  return `user "${user}", project ${credentials.projectId ?? `"${credentials.projectName}"`}`;
}

function expiryText(expiresAt: string, now: Date): string {
  const minutes = Math.round((Date.parse(expiresAt) - now.getTime()) / 60_000);
  return `${expiresAt} (in ${Math.floor(minutes / 60)} h ${minutes % 60} min)`;
}

function summaryTable(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`).join("\n");
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const flags = parseFlags(argv);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const configDir = resolve(flags["config-dir"] || env.DOCKER_CONFIG || join(homedir(), ".docker"));
  const tls = tlsInput(flags);
  const cloud = cloudSettings(flags["os-cloud"] ?? env.OS_CLOUD, env);
  if (cloud) step(`Using ${cloud.label} for what flags and OS_* variables leave unset`);
  const credentials = resolveCredentials({ flags: settingsFromFlags(flags), env: settingsFromEnv(env), cloud: cloud?.settings });

  step(`Getting a token from ${credentials.authUrl} for ${describeWho(credentials)}`);
  const issued: IssuedToken = await issueKeystoneToken(credentials);

  step(`Writing ${join(configDir, "config.json")}`);
  writeDockerConfig(configDir, { token: issued.token, tenantId: issued.projectId, tls });

  console.log("\nDocker config written:");
  console.log(
    summaryTable([
      ["user", issued.userName ?? credentials.username ?? credentials.userId ?? "?"],
      ["project", issued.projectName ? `${issued.projectName} (${issued.projectId})` : issued.projectId],
      ["config", join(configDir, "config.json")],
      ["token expires", expiryText(issued.expiresAt, new Date())],
      ["TLS files", tls ? ["ca.pem", ...(tls.certFile ? ["cert.pem", "key.pem"] : [])].join(", ") : "none given"],
    ]),
  );
  console.log(`\nUse it with: docker --config ${configDir} ...  (run this again before the token expires)`);
}

main(process.argv.slice(2), process.env).catch((error: unknown) => {
  console.error(`docker-config: ${error instanceof Error ? error.message : String(error)}`);
  console.error("config.json was left unchanged. See --help.");
  process.exit(1);
});
