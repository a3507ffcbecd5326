/**
 * The contract between the pipeline and the per-operation rewrites. A handler receives a tenant's
 * request (identity, its scopes, the parsed target, a body reader and the resolver) and returns the
 * engine call to make and how to rewrite the answer back; it may also answer by itself (`Reply`)
 * when the operation needs several engine calls. Handlers never write to the client: the pipeline
 * does, so every answer passes the same error rewriting and audit.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { Identity } from "../identity/identity.ts";
import type { Resolver, Scope, TenantScope } from "../ownership.ts";
import type { Settings } from "../settings.ts";
import type { Upstream } from "../upstream/engine.ts";
import type { Operation } from "../operations.ts";
import type { QuotaGuard } from "./quota-guard.ts";

export interface TenantRequest {
  identity: Identity;
  /** Containers and volumes: always the tenant's own. */
  scope: TenantScope;
  /** Networks: the tenant's own, or shared when network authorization is off. */
  networkScope: Scope;
  operation: Operation;
  /** Path parameters by the spec's names (`id`, `name`). */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The request body parsed as a JSON object (undefined when empty); read at most once. */
  readJson(): Promise<Record<string, unknown> | undefined>;
  /** The request body as a stream (archives), for operations that carry one. */
  bodyStream(): Readable;
  engine: Upstream;
  resolver: Resolver;
  /** Creates, updates and starts go through it: one at a time per tenant, within its quota. */
  quota: QuotaGuard;
  settings: Settings;
}

/** How the engine's answer goes back to the tenant. */
export type ResponsePlan =
  /** As it comes: logs, archives, exports, waits. */
  | { kind: "pipe" }
  /** Buffered and rewritten: lists and inspects (only on success; errors are always rewritten). */
  | { kind: "json"; rewrite: (body: any) => unknown | Promise<unknown> }
  /** A stream of JSON objects rewritten one by one; `undefined` drops one (events, stats). */
  | { kind: "json-stream"; rewrite: (item: any) => unknown | undefined }
  /** A raw bidirectional stream after the engine's 101 or raw-stream 200 (attach, exec start). */
  | { kind: "hijack" };

export interface EngineCall {
  method: string;
  /** Path segments without the version, e.g. ["containers", "<id>", "start"]. */
  segments: string[];
  query: URLSearchParams;
  /** A JSON body to send (re-serialised), or the tenant's own body stream. */
  body?: unknown;
  streamBody?: boolean;
  response: ResponsePlan;
  /** Runs after a successful engine answer (e.g. removing a container's volumes). */
  after?: () => Promise<void>;
}

export interface Reply {
  reply: { status: number; body: unknown };
}

export type Handler = (request: TenantRequest) => Promise<EngineCall | Reply>;

export const json = (rewrite: (body: any) => unknown | Promise<unknown>): ResponsePlan => ({ kind: "json", rewrite });
export const pipe: ResponsePlan = { kind: "pipe" };
