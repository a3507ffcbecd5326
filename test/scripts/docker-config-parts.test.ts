/**
 * The pure parts of scripts/docker-config: where credentials come from (flags > OS_* > clouds.yaml,
 * settings naming one thing in two ways taken together), the token request Keystone gets, and the
 * merge into an existing config.json; plus writeDockerConfig on a temporary directory, so that a
 * failure is shown to leave config.json as it was.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mergeDockerConfig, writeDockerConfig } from "../../scripts/lib/docker-config.ts";
import { authRequest, tokensUrl } from "../../scripts/lib/keystone-token.ts";
import { resolveCredentials, settingsFromCloudsYaml, settingsFromEnv } from "../../scripts/lib/openstack-credentials.ts";
import { testDir } from "../support/test-dir.ts";

const dir = testDir("docker-config-parts");
const URL_ = "http://keystone:5000/v3";

describe("resolveCredentials", () => {
  it("takes each setting from flags, then OS_* variables, then the cloud", () => {
    const resolved = resolveCredentials({
      flags: { username: "from-flags" },
      env: { username: "from-env", password: "env-password", authUrl: URL_ },
      cloud: { username: "from-cloud", password: "cloud-password", authUrl: "http://other", projectName: "cloud-project", userDomainName: "Corp" },
    });
    expect(resolved).toEqual({
      method: "password",
      authUrl: URL_,
      username: "from-flags",
      password: "env-password",
      projectName: "cloud-project",
      userDomainName: "Corp",
    });
  });

  it("takes a project's name and id together from one source, so a flag's name beats an OS_PROJECT_ID", () => {
    const resolved = resolveCredentials({
      flags: { projectName: "p-by-flag" },
      env: { projectId: "id-from-env", authUrl: URL_, username: "u", password: "pw" },
    });
    expect(resolved.projectName).toBe("p-by-flag");
    expect(resolved.projectId).toBeUndefined();
  });

  it("uses an application credential when the source that has one says nothing else, and OS_AUTH_TYPE when it does", () => {
    const applicationCredential = resolveCredentials({
      flags: { applicationCredentialId: "ac", applicationCredentialSecret: "s" },
      env: { authUrl: URL_, username: "u", password: "pw", projectName: "p" },
    });
    expect(applicationCredential.method).toBe("application-credential");
    const byEnv = resolveCredentials({
      flags: {},
      env: { authType: "v3applicationcredential", authUrl: URL_, applicationCredentialId: "ac", applicationCredentialSecret: "s" },
    });
    expect(byEnv.method).toBe("application-credential");
    const passwordByFlag = resolveCredentials({
      flags: { password: "pw", username: "u", projectName: "p" },
      env: { authUrl: URL_, applicationCredentialId: "ac", applicationCredentialSecret: "s" },
    });
    expect(passwordByFlag.method).toBe("password");
  });

  it("names every missing setting and where to give it", () => {
    expect(() => resolveCredentials({ flags: { username: "u" }, env: {} })).toThrow(
      /missing settings:\n {2}- the Keystone auth URL: give --auth-url, OS_AUTH_URL.*\n {2}- a password: .*OS_PASSWORD.*\n {2}- a project: give --project-name/,
    );
    expect(() => resolveCredentials({ flags: {}, env: { authType: "v3applicationcredential", authUrl: URL_, applicationCredentialName: "n" } })).toThrow(
      /an application credential: .*\n.*the application credential's secret/,
    );
  });
});

describe("settings sources", () => {
  it("reads an openrc's OS_* variables, with OS_TENANT_NAME as the older OS_PROJECT_NAME", () => {
    expect(
      settingsFromEnv({ OS_AUTH_URL: URL_, OS_USERNAME: "u", OS_PASSWORD: "", OS_TENANT_NAME: "t", OS_USER_DOMAIN_NAME: "Default", PATH: "/bin" }),
    ).toEqual({
      authUrl: URL_,
      username: "u",
      projectName: "t",
      userDomainName: "Default",
    });
    expect(() => settingsFromEnv({ OS_AUTH_TYPE: "token" })).toThrow(/OS_AUTH_TYPE is "token": only password and v3applicationcredential/);
  });

  const cloudsYaml = [
    "clouds:",
    "  berth:",
    "    auth_type: v3applicationcredential",
    "    auth:",
    `      auth_url: ${URL_}`,
    "      application_credential_id: ac-id",
    "      application_credential_secret: ac-secret",
    "  other:",
    "    auth:",
    "      username: u",
    "      project_id: 1234",
  ].join("\n");

  it("reads the named cloud of clouds.yaml, its auth keys and auth_type", () => {
    expect(settingsFromCloudsYaml(cloudsYaml, "clouds.yaml", "berth")).toEqual({
      name: "berth",
      settings: { authType: "v3applicationcredential", authUrl: URL_, applicationCredentialId: "ac-id", applicationCredentialSecret: "ac-secret" },
    });
    expect(settingsFromCloudsYaml(cloudsYaml, "clouds.yaml", "other")?.settings).toEqual({ username: "u", projectId: "1234" });
  });

  it("uses a file's only cloud when none is named, none of several, and refuses a named cloud that is not there", () => {
    expect(settingsFromCloudsYaml("clouds:\n  only:\n    auth:\n      username: u\n", "c.yaml")?.name).toBe("only");
    expect(settingsFromCloudsYaml(cloudsYaml, "c.yaml")).toBeUndefined();
    expect(() => settingsFromCloudsYaml(cloudsYaml, "c.yaml", "nope")).toThrow('cloud "nope" is not in c.yaml (it has: berth, other)');
  });
});

describe("the token request", () => {
  it("goes to /v3/auth/tokens whether the URL ends with /v3, a slash or neither", () => {
    for (const url of ["http://k:5000", "http://k:5000/", "http://k:5000/v3", "http://k:5000/v3/"]) expect(tokensUrl(url)).toBe("http://k:5000/v3/auth/tokens");
    expect(() => tokensUrl("k:5000")).toThrow(/not an http\(s\) URL/);
  });

  it("scopes a password to the project, in the Default domain unless told, and sends an application credential without scope", () => {
    expect(authRequest({ method: "password", authUrl: URL_, username: "u", password: "pw", projectName: "p" })).toEqual({
      auth: {
        identity: { methods: ["password"], password: { user: { name: "u", domain: { id: "default" }, password: "pw" } } },
        scope: { project: { name: "p", domain: { id: "default" } } },
      },
    });
    expect(
      authRequest({
        method: "application-credential",
        authUrl: URL_,
        applicationCredentialName: "n",
        username: "u",
        userDomainName: "Corp",
        applicationCredentialSecret: "s",
        projectId: "ignored",
      }),
    ).toEqual({
      auth: {
        identity: { methods: ["application_credential"], application_credential: { name: "n", secret: "s", user: { name: "u", domain: { name: "Corp" } } } },
      },
    });
  });
});

describe("mergeDockerConfig", () => {
  it("sets the two headers and keeps every other key and header, replacing the headers whatever their case", () => {
    const existing = {
      auths: { "registry:5000": { auth: "eA==" } },
      psFormat: "table {{.ID}}",
      HttpHeaders: { "User-Agent": "me", "x-auth-token": "old", "X-Auth-TenantId": "old" },
    };
    expect(mergeDockerConfig(existing, { token: "t", tenantId: "p" })).toEqual({
      auths: existing.auths,
      psFormat: existing.psFormat,
      HttpHeaders: { "User-Agent": "me", "X-Auth-Token": "t", "X-Auth-TenantId": "p" },
    });
    expect(mergeDockerConfig(undefined, { token: "t", tenantId: "p" })).toEqual({ HttpHeaders: { "X-Auth-Token": "t", "X-Auth-TenantId": "p" } });
  });
});

describe("writeDockerConfig", () => {
  it("creates the dir 0700 and config.json 0600, and copies the TLS files under the docker CLI's names", () => {
    const configDir = join(dir.path, "fresh", "docker");
    const tls = { caFile: dir.file("my-ca.crt", "CA"), certFile: dir.file("me.crt", "CERT"), keyFile: dir.file("me.key", "KEY") };
    writeDockerConfig(configDir, { token: "t", tenantId: "p", tls });
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(configDir, "config.json")).mode & 0o777).toBe(0o600);
    expect(statSync(join(configDir, "key.pem")).mode & 0o777).toBe(0o600);
    expect(["ca.pem", "cert.pem", "key.pem"].map((name) => readFileSync(join(configDir, name), "utf8"))).toEqual(["CA", "CERT", "KEY"]);
    expect(JSON.parse(readFileSync(join(configDir, "config.json"), "utf8"))).toEqual({ HttpHeaders: { "X-Auth-Token": "t", "X-Auth-TenantId": "p" } });
  });

  it("leaves config.json as it was when it is not JSON or a TLS file is missing", () => {
    const broken = join(dir.path, "broken");
    writeDockerConfig(broken, { token: "t", tenantId: "p" });
    writeFileSync(join(broken, "config.json"), "{ not json");
    expect(() => writeDockerConfig(broken, { token: "t2", tenantId: "p2" })).toThrow(/config.json is not valid JSON/);
    expect(readFileSync(join(broken, "config.json"), "utf8")).toBe("{ not json");

    const missingCa = join(dir.path, "missing-ca");
    expect(() => writeDockerConfig(missingCa, { token: "t", tenantId: "p", tls: { caFile: join(dir.path, "nope.pem") } })).toThrow(
      /TLS file .*nope.pem does not exist/,
    );
    expect(existsSync(missingCa)).toBe(false);
    expect(() => writeDockerConfig(missingCa, { token: "t", tenantId: "p", tls: { caFile: dir.file("ca2", "CA"), certFile: dir.file("c2", "C") } })).toThrow(
      /needs its key/,
    );
  });

  // issue 10: docker-compose 1.29 with DOCKER_CERT_PATH insists on cert.pem and key.pem (docker-py's
  // TLSConfig: "TLS configuration is invalid"); the proxy asks for no client certificate.
  it("with a CA and no client pair, adds a self-signed placeholder pair (key 0600); an existing pair stays", () => {
    const configDir = join(dir.path, "placeholder");
    writeDockerConfig(configDir, { token: "t", tenantId: "p", tls: { caFile: dir.file("ca3.pem", "CA") } });
    expect(readFileSync(join(configDir, "ca.pem"), "utf8")).toBe("CA");
    expect(statSync(join(configDir, "key.pem")).mode & 0o777).toBe(0o600);
    const subject = spawnSync("openssl", ["x509", "-noout", "-subject", "-in", join(configDir, "cert.pem")], { encoding: "utf8" }).stdout;
    expect(subject).toContain("berth placeholder client");
    const pair = ["cert.pem", "key.pem"].map((name) => readFileSync(join(configDir, name), "utf8"));
    writeDockerConfig(configDir, { token: "t2", tenantId: "p", tls: { caFile: dir.file("ca3.pem", "CA") } });
    expect(["cert.pem", "key.pem"].map((name) => readFileSync(join(configDir, name), "utf8"))).toEqual(pair);
  });
});
