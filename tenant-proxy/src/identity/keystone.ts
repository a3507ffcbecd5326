/**
 * Keystone v3 as the identity backend, as FDCS used it but on v3 (v2.0 is gone). A token validates
 * itself (`GET /v3/auth/tokens` with the token as both X-Auth-Token and X-Subject-Token, which
 * Keystone's default policy allows for the token's own subject), so the proxy needs no service
 * credentials. The tenant header must be the token's project, or a project the user is a member
 * of (`GET /v3/auth/projects`); with a members project set, the user must belong to it too.
 * Answers are cached briefly (bounded LRU, never past the token's expiry) and identical lookups in
 * flight are shared; an unreachable or misbehaving Keystone is a 503, never access.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { LRUCache } from "lru-cache";
import { Refusal } from "../http/errors.ts";
import { type Authenticator, type Credentials, type Identity, unauthenticated } from "./identity.ts";
import { type LookupLimits, LookupSlots } from "./lookup-slots.ts";

export interface KeystoneOptions {
  /** Keystone's root URL, without /v3. */
  keystoneUrl: string;
  cacheTtlMs: number;
  cacheSize: number;
  timeoutMs: number;
  adminTenantId?: string;
  membersTenantId?: string;
  /** How many lookups of unknown tokens may run at once. */
  lookups: LookupLimits;
}

type Outcome = { identity: Identity } | { refusal: Refusal };

/** An outcome and how long it may be reused: never past the token's expiry, never for an outage. */
interface Answer {
  outcome: Outcome;
  ttlMs: number;
}

interface TokenInfo {
  userId: string;
  userName: string;
  projectId?: string;
  expiresAt: number;
}

/**
 * A connection per lookup, never kept: Keystone (or its uwsgi) may close an idle connection just as
 * the next lookup takes it, and that lookup then fails with "socket hang up" (seen under a burst of
 * lookups). Lookups are few, since answers are cached, so a fresh connection costs little.
 */
const ONE_USE = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };

const unavailable = (why: string): Refusal => new Refusal(503, `identity service unavailable: ${why}`, "identity-unavailable");

export class KeystoneAuthenticator implements Authenticator {
  private readonly cache: LRUCache<string, Outcome>;
  private readonly inFlight = new Map<string, Promise<Answer>>();
  private readonly slots: LookupSlots;

  constructor(
    private readonly options: KeystoneOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = new LRUCache({ max: options.cacheSize, ttl: options.cacheTtlMs });
    this.slots = new LookupSlots(options.lookups);
  }

  async authenticate(credentials: Credentials): Promise<Identity> {
    const key = `${createHash("sha256").update(credentials.token).digest("hex")}:${credentials.tenant}`;
    let outcome = this.cache.get(key);
    if (outcome === undefined) {
      let pending = this.inFlight.get(key);
      if (pending === undefined) {
        const giveBack = this.slots.take(credentials.address);
        pending = this.lookUp(credentials).finally(() => {
          giveBack();
          this.inFlight.delete(key);
        });
        this.inFlight.set(key, pending);
        const answer = await pending;
        if (answer.ttlMs > 0) this.cache.set(key, answer.outcome, { ttl: answer.ttlMs });
      }
      outcome = (await pending).outcome;
    }
    if ("refusal" in outcome) throw outcome.refusal;
    return outcome.identity;
  }

  private async lookUp(credentials: Credentials): Promise<Answer> {
    try {
      const info = await this.validate(credentials.token);
      const remaining = info.expiresAt - this.now();
      if (remaining <= 0) return { outcome: { refusal: unauthenticated("the token has expired") }, ttlMs: this.options.cacheTtlMs };
      const identity = await this.authorise(credentials, info);
      return { outcome: { identity }, ttlMs: Math.min(this.options.cacheTtlMs, remaining) };
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { outcome: { refusal: error }, ttlMs: error.status === 503 ? 0 : this.options.cacheTtlMs };
    }
  }

  private async validate(token: string): Promise<TokenInfo> {
    const answer = await this.get("/v3/auth/tokens?nocatalog", { "X-Auth-Token": token, "X-Subject-Token": token });
    if (answer.status === 401 || answer.status === 404) throw unauthenticated("invalid, expired or revoked token");
    if (answer.status !== 200) throw unavailable(`token validation answered ${answer.status}`);
    const body = answer.body as { token?: { expires_at?: string; user?: { id?: string; name?: string }; project?: { id?: string } } };
    const expiresAt = Date.parse(body.token?.expires_at ?? "");
    const userId = body.token?.user?.id;
    if (!userId || Number.isNaN(expiresAt)) throw unavailable("token validation gave an answer without user or expiry");
    return { userId, userName: body.token?.user?.name ?? userId, projectId: body.token?.project?.id, expiresAt };
  }

  private async authorise(credentials: Credentials, info: TokenInfo): Promise<Identity> {
    const { adminTenantId, membersTenantId } = this.options;
    const needed = [credentials.tenant];
    const admin = adminTenantId !== undefined && credentials.tenant === adminTenantId;
    if (membersTenantId !== undefined && !admin) needed.push(membersTenantId);
    const missing = needed.filter((project) => project !== info.projectId);
    if (missing.length > 0) {
      const projects = await this.userProjects(credentials.token);
      if (!projects.has(credentials.tenant) && credentials.tenant !== info.projectId) {
        throw unauthenticated(`the token is not valid for tenant ${credentials.tenant}`);
      }
      if (membersTenantId !== undefined && !admin && !projects.has(membersTenantId) && membersTenantId !== info.projectId) {
        throw new Refusal(403, "this service is open to members of its members project only", "forbidden");
      }
    }
    return { user: info.userName, tenant: credentials.tenant, admin };
  }

  private async userProjects(token: string): Promise<Set<string>> {
    const answer = await this.get("/v3/auth/projects", { "X-Auth-Token": token });
    if (answer.status === 401 || answer.status === 404) throw unauthenticated("invalid, expired or revoked token");
    if (answer.status !== 200) throw unavailable(`project listing answered ${answer.status}`);
    const projects = (answer.body as { projects?: { id?: string; enabled?: boolean }[] }).projects ?? [];
    return new Set(projects.filter((p) => p.enabled !== false && typeof p.id === "string").map((p) => p.id!));
  }

  /**
   * One GET to Keystone over a kept-alive connection. A server may close an idle connection just as
   * it is reused (uwsgi does); Node's documented remedy is to retry such a request once.
   */
  private get(path: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
    const url = new URL(this.options.keystoneUrl + path);
    const [transport, agent] = url.protocol === "https:" ? [https, ONE_USE.https] : [http, ONE_USE.http];
    return new Promise((resolve, reject) => {
      const request = transport.get(url, { agent, headers: { ...headers, Accept: "application/json" }, timeout: this.options.timeoutMs }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error) => reject(unavailable(error.message)));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown;
          try {
            body = text === "" ? {} : JSON.parse(text);
          } catch {
            if (response.statusCode === 200) return reject(unavailable("Keystone answered with something that is not JSON"));
            body = {};
          }
          resolve({ status: response.statusCode ?? 0, body });
        });
      });
      request.on("timeout", () => request.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)));
      request.on("error", (error) => reject(unavailable(error.message)));
    });
  }
}
