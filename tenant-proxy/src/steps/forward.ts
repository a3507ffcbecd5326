/**
 * Step 4, forward: the engine call a handler planned (or the request itself, for administrators and
 * pass-through mode) goes to the engine with only the headers it needs. Tenants' JSON bodies are
 * sent re-serialised from what was checked, never as the bytes the tenant wrote; the identity
 * headers never reach the engine.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { API_VERSION } from "../http/api-version.ts";
import { encodeSegments } from "../http/request.ts";
import type { EngineCall } from "../rewrite/types.ts";
import type { Upstream } from "../upstream/engine.ts";

/** Request headers the engine may see from a tenant. */
const TENANT_HEADERS = ["user-agent", "x-registry-auth"];
/** Headers that belong to one hop or to the proxy, never forwarded even for administrators. */
const HOP_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
  "x-auth-token",
  "x-auth-tenantid",
  "accept-encoding",
]);

/**
 * The engine's path for a call. One without a version is sent at the proxy's own: an engine serves
 * an unversioned path at its newest version, which on an engine newer than 20.10 nobody has judged.
 */
export function enginePath(version: string | undefined, segments: readonly string[], query: URLSearchParams): string {
  const search = query.toString();
  return `/v${version ?? API_VERSION}/${encodeSegments(segments)}${search ? `?${search}` : ""}`;
}

export function passThroughHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_HEADERS.has(name)));
}

export function tenantHeaders(headers: IncomingHttpHeaders, call: EngineCall): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of TENANT_HEADERS) {
    const value = headers[name];
    if (typeof value === "string") out[name] = value;
  }
  if (call.body !== undefined) out["content-type"] = "application/json";
  else if (call.streamBody && typeof headers["content-type"] === "string") out["content-type"] = headers["content-type"];
  if (call.streamBody && typeof headers["content-length"] === "string") out["content-length"] = headers["content-length"];
  return out;
}

export function forward(
  engine: Upstream,
  version: string | undefined,
  call: EngineCall,
  headers: OutgoingHttpHeaders,
  bodyStream?: Readable,
): Promise<IncomingMessage> {
  let body: Buffer | Readable | undefined;
  if (call.body !== undefined) {
    body = Buffer.from(JSON.stringify(call.body));
    headers = { ...headers, "content-length": body.length };
  } else if (call.streamBody) body = bodyStream;
  return engine.request({ method: call.method, path: enginePath(version, call.segments, call.query), headers, body });
}
