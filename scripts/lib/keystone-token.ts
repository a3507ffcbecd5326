/**
 * Issues a project-scoped Keystone v3 token (POST /v3/auth/tokens) from a password or an
 * application credential. The tenant proxy identifies a tenant by the token's project, so a token
 * without a project is refused here rather than written into a docker config that cannot work.
 * Every failure becomes an Error whose message names the cause in the user's terms (bad
 * credentials, unknown project, Keystone unreachable) instead of a bare HTTP status.
 */

export interface KeystoneCredentials {
  /** Keystone's public endpoint, with or without the trailing /v3. */
  authUrl: string;
  method: "password" | "application-credential";
  username?: string;
  userId?: string;
  userDomainName?: string;
  userDomainId?: string;
  password?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
  projectId?: string;
  projectName?: string;
  projectDomainName?: string;
  projectDomainId?: string;
}

export interface IssuedToken {
  token: string;
  projectId: string;
  projectName?: string;
  userName?: string;
  expiresAt: string;
}

const REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_DOMAIN_ID = "default";

type Json = Record<string, unknown>;

interface KeystoneAnswer {
  status: number;
  subjectToken: string | null;
  body: Json | undefined;
}

export async function issueKeystoneToken(credentials: KeystoneCredentials): Promise<IssuedToken> {
  const url = tokensUrl(credentials.authUrl);
  const answer = await postTokens(url, authRequest(credentials));
  if (answer.status === 201) return issuedToken(answer, credentials);
  throw await refusal(url, credentials, answer);
}

/** "https://host:5000", "https://host:5000/" and "https://host:5000/v3/" all give .../v3/auth/tokens. */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.trim().replace(/\/+$/, "").replace(/\/v3$/, "");
  if (!/^https?:\/\/[^/]/.test(base)) throw new Error(`the Keystone auth URL "${authUrl}" is not an http(s) URL`);
  return `${base}/v3/auth/tokens`;
}

/** The body of POST /v3/auth/tokens; throws when a required setting is missing. */
export function authRequest(credentials: KeystoneCredentials): Json {
  if (credentials.method === "application-credential") return { auth: { identity: applicationCredentialIdentity(credentials) } };
  const scope = projectScope(credentials);
  return { auth: { identity: passwordIdentity(credentials), ...(scope ? { scope } : {}) } };
}

function passwordIdentity(c: KeystoneCredentials): Json {
  if (!c.password) throw new Error("no password given for password authentication");
  return { methods: ["password"], password: { user: { ...userReference(c), password: c.password } } };
}

function userReference(c: KeystoneCredentials): Json {
  if (c.userId) return { id: c.userId };
  if (!c.username) throw new Error("no user given: a user name or user id is needed");
  return { name: c.username, domain: domainReference(c.userDomainId, c.userDomainName) };
}

function applicationCredentialIdentity(c: KeystoneCredentials): Json {
  if (!c.applicationCredentialSecret) throw new Error("no application credential secret given");
  if (c.applicationCredentialId) {
    return { methods: ["application_credential"], application_credential: { id: c.applicationCredentialId, secret: c.applicationCredentialSecret } };
  }
  if (!c.applicationCredentialName) throw new Error("no application credential given: its id, or its name with the user, is needed");
  return {
    methods: ["application_credential"],
    application_credential: { name: c.applicationCredentialName, secret: c.applicationCredentialSecret, user: userReference(c) },
  };
}

/** Application credentials carry their own project; a password needs one named (else the user's default project). */
function projectScope(c: KeystoneCredentials): Json | undefined {
  if (c.projectId) return { project: { id: c.projectId } };
  if (c.projectName) return { project: { name: c.projectName, domain: domainReference(c.projectDomainId, c.projectDomainName) } };
  return undefined;
}

function domainReference(id: string | undefined, name: string | undefined): Json {
  if (id) return { id };
  if (name) return { name };
  return { id: DEFAULT_DOMAIN_ID };
}

async function postTokens(url: string, body: Json): Promise<KeystoneAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new Error(`Keystone at ${url} is unreachable: ${describeFetchError(error)}`);
  }
  const text = await response.text();
  return { status: response.status, subjectToken: response.headers.get("x-subject-token"), body: parseJson(text) };
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return error.name === "TimeoutError" ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : error.message;
}

function parseJson(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

function issuedToken(answer: KeystoneAnswer, c: KeystoneCredentials): IssuedToken {
  const token = answer.body?.token as { expires_at?: string; project?: { id?: string; name?: string }; user?: { name?: string } } | undefined;
  if (!answer.subjectToken || !token?.expires_at) throw new Error("Keystone answered 201 without a token (no X-Subject-Token or expires_at)");
  if (!token.project?.id) {
    throw new Error(
      c.method === "password"
        ? "the token is not scoped to a project: give a project name or id (the user has no default project)"
        : "the token is not scoped to a project",
    );
  }
  return {
    token: answer.subjectToken,
    projectId: token.project.id,
    ...(token.project.name ? { projectName: token.project.name } : {}),
    ...(token.user?.name ? { userName: token.user.name } : {}),
    expiresAt: token.expires_at,
  };
}

/**
 * Keystone answers the same 401 for a wrong password, an unknown project and a project the user
 * has no role on, so a refused scoped request is tried once more unscoped to tell them apart. A
 * wrong password therefore counts twice towards a lockout policy (off by default in Keystone).
 */
async function refusal(url: string, c: KeystoneCredentials, answer: KeystoneAnswer): Promise<Error> {
  const detail = keystoneMessage(answer);
  if (answer.status !== 401) return new Error(`Keystone at ${url} refused the token request: ${answer.status}${detail}`);
  if (c.method === "application-credential")
    return new Error(`Keystone refused the application credential (401): wrong id, name or secret, or it expired${detail}`);
  const scope = projectScope(c);
  if (scope && (await postTokens(url, { auth: { identity: passwordIdentity(c) } })).status === 201) {
    return new Error(`the user ${userLabel(c)} cannot get a token for project ${projectLabel(c)}: the project does not exist or the user has no role on it`);
  }
  return new Error(`Keystone refused the credentials of ${userLabel(c)} (401): wrong user name, domain or password${detail}`);
}

function keystoneMessage(answer: KeystoneAnswer): string {
  const message = (answer.body?.error as { message?: unknown } | undefined)?.message;
  return typeof message === "string" && message ? ` (Keystone: ${message})` : "";
}

function userLabel(c: KeystoneCredentials): string {
  return c.userId ? `user id ${c.userId}` : `"${c.username ?? "?"}"`;
}

function projectLabel(c: KeystoneCredentials): string {
  return c.projectId ? `id ${c.projectId}` : `"${c.projectName ?? "?"}"`;
}
