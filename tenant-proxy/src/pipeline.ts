/**
 * One request, top to bottom: read the target strictly, look up the operation, authenticate,
 * authorise, rewrite (the operation's handler, which also picks the node), forward, rewrite back,
 * and audit any refusal. Tenants get their own scope; administrators (and everyone when
 * multi-tenancy is off) get the unrestricted one and go through the same handlers, which then only
 * route. Plain requests and hijacked streams (attach, exec start) share every step up to the
 * forward; a stream is authorised completely before the engine is asked to upgrade. Every call holds
 * a place in the call limits from authentication until it has ended, however it ends. Nothing a
 * client sends can crash the process: every failure ends as a Docker-style error answer.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { AuditLog } from "./audit.ts";
import type { CallLimits } from "./call-limits.ts";
import type { Release } from "./places.ts";
import { Refusal, badRequest } from "./http/errors.ts";
import { checkRequestedVersion } from "./http/api-version.ts";
import { checkContentType, parseJsonObject, parseTarget, readBody, type RequestTarget } from "./http/request.ts";
import type { Authenticator, Identity } from "./identity/identity.ts";
import { matchOperation } from "./operations.ts";
import { ADMIN_SCOPE, SHARED_NETWORKS_SCOPE, TenantScope } from "./ownership.ts";
import { anyNode } from "./rewrite/fan-out.ts";
import type { QuotaGuard } from "./rewrite/quota-guard.ts";
import type { EngineCall, MergedStream, Operation, Reply, TenantRequest } from "./rewrite/types.ts";
import { authenticate } from "./steps/authenticate.ts";
import { authorise } from "./steps/authorise.ts";
import { enginePath, forward, passThroughHeaders, tenantHeaders } from "./steps/forward.ts";
import { respond, respondMerged, respondRelayed, sendJson, sendRefusal, type Unscope, unscopedError } from "./steps/respond.ts";
import { tunnel } from "./streams.ts";
import type { Cluster } from "./upstream/cluster.ts";
import type { Resolver } from "./resolver.ts";
import type { Settings } from "./settings-types.ts";

export interface ProxyContext {
  settings: Settings;
  /** Undefined when authentication is off (pass-through debugging mode). */
  authenticator?: Authenticator;
  cluster: Cluster;
  resolver: Resolver;
  quota: QuotaGuard;
  calls: CallLimits;
  audit: AuditLog;
}

/** Where a request came in: a plain HTTP exchange, or a connection asking to become a stream. */
type Arrival = { kind: "http"; res: ServerResponse } | { kind: "stream"; socket: Duplex; head: Buffer; legacy: boolean };

/** What the steps up to the forward decided: the call (or answer), and how to word errors. */
interface Decision {
  target: RequestTarget;
  call: EngineCall | MergedStream | Reply;
  /** Whether the caller is an administrator, whose requests keep their own headers. */
  unrestricted: boolean;
  unscope: Unscope;
}

/** Who asked for what, filled in as the steps learn it, for the audit line of a refusal. */
interface Trace {
  identity?: Identity;
  operation?: Operation;
  /** The call's place in the call limits, once it has one. */
  release?: Release;
}

const asIs: Unscope = (text) => text;

export function createPipeline(context: ProxyContext) {
  return {
    onRequest: (req: IncomingMessage, res: ServerResponse) => run(context, req, { kind: "http", res }),
    onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer, legacy: boolean) => run(context, req, { kind: "stream", socket, head, legacy }),
  };
}

async function run(context: ProxyContext, req: IncomingMessage, arrival: Arrival): Promise<void> {
  const trace: Trace = {};
  const body = bodyReader(req, arrival, context.settings.maxBodyBytes);
  try {
    const decision = await decide(context, req, arrival, body, trace);
    if (arrival.kind === "stream") await stream(req, arrival, decision, body);
    else await answer(context, req, arrival.res, decision);
  } catch (error) {
    const refusal = error instanceof Refusal ? error : internalError(context, error, req);
    const { identity, operation } = trace;
    context.audit.refusal({ tenant: identity?.tenant, user: identity?.user, operation: operation?.id, method: req.method ?? "", path: req.url ?? "", refusal });
    if (arrival.kind === "http") sendRefusal(arrival.res, refusal);
    else writeRawAnswer(arrival.socket, refusal.status, { message: refusal.message });
  } finally {
    trace.release?.();
  }
}

function internalError(context: ProxyContext, error: unknown, req: IncomingMessage): Refusal {
  context.audit.error("request failed", { method: req.method, path: req.url?.split("?")[0], error: String((error as Error)?.stack ?? error) });
  return new Refusal(500, "internal error in the tenant proxy", "engine-error");
}

async function decide(context: ProxyContext, req: IncomingMessage, arrival: Arrival, body: BodyReader, trace: Trace): Promise<Decision> {
  checkContentType(req.headers);
  const target = parseTarget(req.url ?? "");
  checkRequestedVersion(target.version);
  const match = matchOperation(req.method ?? "", target.segments);
  if ("unknown" in match) {
    throw new Refusal(
      match.unknown === "method" ? 405 : 404,
      `${req.method} /${target.segments.join("/")} is not an API this service offers`,
      "unknown-operation",
    );
  }
  const { operation, params } = match;
  trace.operation = operation;
  if (arrival.kind === "stream" && !operation.hijack) throw badRequest(`${operation.id} cannot be upgraded to a stream`);

  const identity = operation.access === "public" ? undefined : await authenticate(context.authenticator, req.headers, req.socket.remoteAddress ?? "unknown");
  trace.identity = identity;
  if (identity) authorise(operation, identity, context.settings.policy);
  trace.release = context.calls.enter(identity && { tenant: identity.tenant, user: identity.user });
  const unrestricted = identity === undefined || identity.admin || !context.settings.multiTenant;
  const scope = unrestricted ? ADMIN_SCOPE : new TenantScope(identity.tenant);
  if (!unrestricted) checkQuery(operation, target.query);
  if (operation.body === "none" && !unrestricted) await body.requireEmpty();

  const request: TenantRequest = {
    identity: identity ?? { user: "anonymous", tenant: "none", admin: true },
    scope,
    networkScope: unrestricted ? ADMIN_SCOPE : context.settings.networkAuthorization ? scope : SHARED_NETWORKS_SCOPE,
    operation,
    params,
    query: target.query,
    headers: req.headers,
    readJson: body.json,
    bodyStream: () => req,
    cluster: context.cluster,
    resolver: context.resolver,
    quota: context.quota,
    settings: context.settings,
  };
  const call: EngineCall | MergedStream | Reply = operation.handler
    ? await operation.handler(request)
    : { node: anyNode(request), method: req.method!, segments: target.segments, query: target.query, streamBody: true, response: { kind: "pipe" } };
  if (arrival.kind === "http" && "response" in call && call.response.kind === "hijack") {
    throw badRequest(`${operation.id} streams need a fresh connection with the Upgrade: tcp header`);
  }
  return { target, call, unrestricted, unscope: unrestricted ? asIs : (text) => scope.unscopeText(text) };
}

function checkQuery(operation: Operation, query: URLSearchParams): void {
  for (const key of query.keys()) {
    if (!operation.query?.includes(key)) throw badRequest(`unknown query parameter "${key}" for ${operation.id}`, key);
  }
}

/** A plain exchange: forward the call and write the engine's answer back. */
async function answer(context: ProxyContext, req: IncomingMessage, res: ServerResponse, decision: Decision): Promise<void> {
  const { call, target, unscope, unrestricted } = decision;
  if ("reply" in call) {
    const { status, body, headers } = call.reply;
    if (status === 204 || status === 304) res.writeHead(status, headers).end();
    else if (typeof body === "string" && headers?.["content-type"]?.startsWith("text/plain"))
      res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body) }).end(body);
    else sendJson(res, status, status >= 400 ? unscopedError(typeof body === "string" ? body : JSON.stringify(body), unscope) : body, headers);
    return;
  }
  if ("merged" in call) {
    await respondMerged(res, context.cluster.healthy(), call.merged, target.version, unscope);
    return;
  }
  if (call.response.kind === "relay") {
    const path = enginePath(target.version, call.segments, call.query);
    const httpVersion = req.httpVersionMajor === 1 && req.httpVersionMinor === 0 ? "1.0" : "1.1";
    await respondRelayed(res, call.node.engine, { method: call.method, path, headers: tenantHeaders(req.headers, call), httpVersion }, unscope);
    return;
  }
  const headers = unrestricted && call.streamBody ? passThroughHeaders(req.headers) : tenantHeaders(req.headers, call);
  const upstream = await forward(call.node.engine, target.version, call, headers, req);
  await respond(res, upstream, call.response, unscope);
}

/** A hijacked exchange: fully authorised above, now tunnelled to the container's node. */
async function stream(req: IncomingMessage, arrival: Extract<Arrival, { kind: "stream" }>, decision: Decision, body: BodyReader): Promise<void> {
  const { call, target, unscope } = decision;
  if (!("response" in call)) throw new Error("a stream operation answered without an engine call");
  const payload = call.body === undefined ? await body.raw() : Buffer.from(JSON.stringify(call.body));
  const headers: Record<string, string> = {};
  const userAgent = req.headers["user-agent"];
  if (typeof userAgent === "string") headers["User-Agent"] = userAgent;
  if (payload.length > 0) headers["Content-Type"] = "application/json";
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith("sec-websocket-") && typeof value === "string") headers[name] = value;
  }
  const upgrade = arrival.legacy ? undefined : typeof req.headers.upgrade === "string" ? req.headers.upgrade : "tcp";
  await tunnel(
    call.node.engine,
    arrival.socket,
    body.rest(),
    { method: req.method!, path: enginePath(target.version, call.segments, call.query), headers, body: payload, upgrade },
    (head, answerBody) => {
      const text = answerBody.toString("utf8");
      if (head.status >= 400) writeRawAnswer(arrival.socket, head.status, unscopedError(text, unscope));
      else writeRawAnswer(arrival.socket, head.status, text === "" ? undefined : text, head.headers["content-type"]);
    },
  );
}

function writeRawAnswer(socket: Duplex, status: number, body: unknown, contentType = "application/json"): void {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(typeof body === "string" ? body : `${JSON.stringify(body)}\n`);
  socket.end(
    Buffer.concat([
      Buffer.from(
        `HTTP/1.1 ${status} ${status < 400 ? "OK" : "Error"}\r\nContent-Type: ${contentType}\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`,
      ),
      payload,
    ]),
  );
}

interface BodyReader {
  raw(): Promise<Buffer>;
  json(): Promise<Record<string, unknown> | undefined>;
  requireEmpty(): Promise<void>;
  /** Stream arrivals only: bytes the client sent after its request body. */
  rest(): Buffer;
}

/** Reads a body once, from the request stream or, for an upgrade, from the bytes after the head. */
function bodyReader(req: IncomingMessage, arrival: Arrival, limit: number): BodyReader {
  let cached: Promise<Buffer> | undefined;
  let rest: Buffer = Buffer.alloc(0);
  const raw = () => {
    cached ??=
      arrival.kind === "http"
        ? readBody(req, limit)
        : readUpgradeBody(req, arrival.socket, arrival.head, limit).then(({ body, after }) => {
            rest = after;
            return body;
          });
    return cached;
  };
  return {
    raw,
    json: async () => parseJsonObject(await raw(), req.headers),
    requireEmpty: async () => {
      const body = await raw().catch((error: unknown) => {
        throw error instanceof Refusal && error.status === 413 ? badRequest("this operation takes no request body") : error;
      });
      if (body.length > 0) throw badRequest("this operation takes no request body");
    },
    rest: () => rest,
  };
}

/** The body of an upgrade request: Content-Length bytes, part of them perhaps already in `head`. */
function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer, limit: number): Promise<{ body: Buffer; after: Buffer }> {
  if (req.headers["transfer-encoding"] !== undefined) return Promise.reject(badRequest("a stream request cannot have a chunked body"));
  const length = Number(req.headers["content-length"] ?? 0);
  if (!Number.isInteger(length) || length < 0) return Promise.reject(badRequest("malformed Content-Length"));
  if (length > limit) return Promise.reject(new Refusal(413, `request body is over the limit of ${limit} bytes`, "body-too-large"));
  return new Promise((resolve, reject) => {
    let buffered: Buffer = head;
    const settle = () => {
      if (buffered.length < length) return false;
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.pause();
      resolve({ body: buffered.subarray(0, length), after: buffered.subarray(length) });
      return true;
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      settle();
    };
    const onEnd = () => reject(badRequest("the connection ended inside the request body"));
    if (settle()) return;
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.resume();
  });
}
