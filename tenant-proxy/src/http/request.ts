/**
 * Reading what a client sent, strictly. The engine (Go's net/http and gorilla/mux) and this proxy
 * must agree on every byte that matters, or a tenant could show the proxy one request and the engine
 * another. So the target is parsed into decoded path segments with no dot segments, encoded slashes
 * or double version prefixes; a query key may appear once; form-encoded bodies (which Go would merge
 * into the query) are refused; and JSON bodies are read with a size limit, parsed, and later sent on
 * re-serialised, so duplicate or oddly cased keys never reach the engine.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { Refusal, badRequest } from "./errors.ts";

export interface RequestTarget {
  /** The API version of a `/v1.41/...` path, or undefined for an unversioned one. */
  version?: string;
  /** Decoded path segments after the version, e.g. ["containers", "web", "json"]. */
  segments: string[];
  query: URLSearchParams;
}

const VERSION_SEGMENT = /^v(\d+\.\d+)$/;

export function parseTarget(rawUrl: string): RequestTarget {
  if (!rawUrl.startsWith("/")) throw badRequest(`unsupported request target "${rawUrl.slice(0, 80)}"`);
  const queryStart = rawUrl.indexOf("?");
  const rawPath = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? "" : rawUrl.slice(queryStart + 1);

  const rawSegments = rawPath === "/" ? [] : rawPath.split("/").slice(1);
  if (rawSegments.length > 1 && rawSegments[rawSegments.length - 1] === "") rawSegments.pop();
  const segments = rawSegments.map((raw) => decodeSegment(raw, rawPath));

  let version: string | undefined;
  const versionMatch = segments.length > 0 ? VERSION_SEGMENT.exec(segments[0]!) : null;
  if (versionMatch) {
    version = versionMatch[1];
    segments.shift();
  } else if (segments.length > 0 && /^v\d/.test(segments[0]!)) {
    throw badRequest(`malformed API version in path "${rawPath.slice(0, 80)}"`);
  }
  if (segments.length > 0 && VERSION_SEGMENT.test(segments[0]!)) {
    throw badRequest(`more than one API version in path "${rawPath.slice(0, 80)}"`);
  }
  return { version, segments, query: parseQuery(rawQuery) };
}

function decodeSegment(raw: string, rawPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw badRequest(`malformed percent-encoding in path "${rawPath.slice(0, 80)}"`);
  }
  if (decoded === "" || decoded === "." || decoded === "..") {
    throw badRequest(`empty or dot segment in path "${rawPath.slice(0, 80)}"`);
  }
  if (/[/\\\0]/.test(decoded) || /[\u0000-\u001f\u007f]/.test(decoded)) {
    throw badRequest(`encoded slash or control character in path "${rawPath.slice(0, 80)}"`);
  }
  return decoded;
}

export function parseQuery(rawQuery: string): URLSearchParams {
  if (rawQuery.includes(";")) throw badRequest("';' is not a query separator");
  const query = new URLSearchParams(rawQuery);
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (seen.has(key)) throw badRequest(`duplicate query parameter "${key}"`);
    seen.add(key);
  }
  return query;
}

/** Path segments as the engine expects them: image references keep their ':' and '@'. */
export function encodeSegments(segments: readonly string[]): string {
  return segments.map((s) => encodeURIComponent(s).replace(/%3A/gi, ":").replace(/%40/g, "@")).join("/");
}

const FORM_TYPES = /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i;

/** Refuses content types Go would decode into the form, where they would override the query. */
export function checkContentType(headers: IncomingHttpHeaders): void {
  const type = headers["content-type"];
  if (type !== undefined && FORM_TYPES.test(type)) {
    throw badRequest(`content type ${type.split(";")[0]} is not accepted by this API`);
  }
}

export function isJsonContentType(headers: IncomingHttpHeaders): boolean {
  const type = headers["content-type"];
  return type !== undefined && /^application\/json\s*(;|$)/i.test(type);
}

const EMPTY_BODY = Buffer.alloc(0);

/** Reads a whole (small) body, refusing one over the limit before buffering it. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    throw new Refusal(413, `request body of ${declared} bytes is over the limit of ${limit} bytes`, "body-too-large");
  }
  // HTTP/1.1 framing: a request with neither header has no body (Node's parser reads none), and
  // most calls are such GETs; the server discards the empty stream once the answer is sent.
  if ((declared === undefined || declared === "0") && req.headers["transfer-encoding"] === undefined) return EMPTY_BODY;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new Refusal(413, `request body is over the limit of ${limit} bytes`, "body-too-large");
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Deeper than any body or filter of the Engine API (a create body is about 6 levels deep). */
export const MAX_JSON_DEPTH = 64;

/**
 * JSON.parse, after checking how deeply the text nests: a tenant's `[[[[...]]]]` would otherwise
 * parse, then overflow the stack of whatever walks or re-serialises it.
 */
export function parseJson(text: string): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw badRequest(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return JSON.parse(text);
}

/**
 * The JSON object a tenant sent. An empty body is `undefined` (several operations make it
 * optional); anything else must be declared as JSON and parse to an object.
 */
export function parseJsonObject(body: Buffer, headers: IncomingHttpHeaders): Record<string, unknown> | undefined {
  if (body.length === 0) return undefined;
  if (!isJsonContentType(headers)) {
    throw badRequest(`a request body must be sent as application/json, not ${headers["content-type"] ?? "no content type"}`);
  }
  let parsed: unknown;
  try {
    parsed = parseJson(body.toString("utf8"));
  } catch (error) {
    if (error instanceof Refusal) throw error;
    throw badRequest(`malformed JSON body: ${(error as Error).message}`);
  }
  if (parsed === null) return undefined;
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw badRequest("the JSON body must be an object");
  return parsed as Record<string, unknown>;
}
