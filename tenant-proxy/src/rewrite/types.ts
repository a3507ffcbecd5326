/**
 * The contract between the pipeline and the per-operation rewrites. A handler receives a request
 * (identity, the caller's scopes, the parsed target, a body reader, the cluster and the resolver)
 * and returns the engine call to make — on which node, and how to rewrite the answer back — or a
 * stream merged from every node (events, pulls), or an answer of its own (`Reply`) when the
 * operation needs several engine calls. Handlers never write to the client: the pipeline does, so
 * every answer passes the same error rewriting and audit.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { Identity } from "../identity/identity.ts";
import type { Scope } from "../ownership.ts";
import type { Cluster, ClusterNode } from "../upstream/cluster.ts";
import type { QuotaGuard } from "./quota-guard.ts";
import type { Resolver } from "../resolver.ts";
import type { Settings } from "../settings-types.ts";

/** One row of the operations table (operations.ts): an engine API operation and how tenants may use it. */
export type Access = "public" | "tenant" | "admin" | "refused";

export interface Operation {
  /** The spec's operationId. */
  id: string;
  method: "GET" | "HEAD" | "POST" | "PUT" | "DELETE";
  /** The spec's path; `{name}` of images, plugins and distribution, and `{id}` of networks, span several segments. */
  path: string;
  fdcs: string;
  access: Access;
  /**
   * How requests are scoped, routed to a node and rewritten. Operations without one (admin-only
   * plugin management, build sessions) go as they are to one node.
   */
  handler?: Handler;
  /** The query parameters a tenant may send (the spec's, plus the few real clients add). */
  query?: readonly string[];
  /** What body a tenant's request may carry. */
  body?: "none" | "json" | "stream";
  /** Attach and exec start: the connection becomes a raw stream. */
  hijack?: boolean;
  /** An admin-only image change that BERTH_TENANT_IMAGE_CHANGES opens to tenants (via `handler`). */
  imageChange?: boolean;
  /** Why an operation is admin-only or refused, said to whoever is refused. */
  reason?: string;
}

export interface TenantRequest {
  identity: Identity;
  /** Containers and volumes: the tenant's own (or everything, for administrators). */
  scope: Scope;
  /** Networks: the tenant's own, or shared when network authorization is off. */
  networkScope: Scope;
  operation: Operation;
  /** Path parameters by the spec's names (`id`, `name`). */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The request body parsed as a JSON object (undefined when empty); read at most once. */
  readJson(): Promise<Record<string, unknown> | undefined>;
  /** The request body as a stream (archives, image tars), for operations that carry one. */
  bodyStream(): Readable;
  cluster: Cluster;
  resolver: Resolver;
  /** Containers' memory and CPU reservations, read from the engines and cached by id. */
  /** Creates, updates and starts go through it: one at a time per tenant, within its quota. */
  quota: QuotaGuard;
  settings: Settings;
}

/** How the engine's answer goes back to the caller. */
export type ResponsePlan =
  /** As it comes: waits, control calls, image pulls and loads. */
  | { kind: "pipe" }
  /**
   * A bulk body (logs, copies out, exports) relayed as the engine frames it, on connections of its
   * own that end with it (see `relay` in streams.ts). For calls without a request body.
   */
  | { kind: "relay" }
  /** Buffered and rewritten: inspects (only on success; errors are always rewritten). */
  | { kind: "json"; rewrite: (body: any) => unknown | Promise<unknown> }
  /** A stream of JSON objects rewritten one by one; `undefined` drops one (stats). */
  | { kind: "json-stream"; rewrite: (item: any) => unknown | undefined }
  /** A raw bidirectional stream after the engine's 101 or raw-stream 200 (attach, exec start). */
  | { kind: "hijack" };

export interface EngineCall {
  node: ClusterNode;
  method: string;
  /** Path segments without the version, e.g. ["containers", "<id>", "start"]. */
  segments: string[];
  query: URLSearchParams;
  /** A JSON body to send (re-serialised), or the caller's own body stream. */
  body?: unknown;
  streamBody?: boolean;
  response: ResponsePlan;
}

/** One request to every healthy node, their JSON streams merged object by object (events, pulls). */
export interface MergedStream {
  merged: {
    method: string;
    segments: string[];
    query: URLSearchParams;
    rewrite: (item: any, node: ClusterNode) => unknown | undefined;
  };
}

export interface Reply {
  reply: { status: number; body: unknown; headers?: Record<string, string> };
}

export type Handler = (request: TenantRequest) => Promise<EngineCall | MergedStream | Reply>;

export const json = (rewrite: (body: any) => unknown | Promise<unknown>): ResponsePlan => ({ kind: "json", rewrite });
export const pipe: ResponsePlan = { kind: "pipe" };
export const relay: ResponsePlan = { kind: "relay" };
