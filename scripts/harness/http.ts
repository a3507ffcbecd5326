/**
 * Tests need to see the daemons as they really are, behind the proxy's back: which containers,
 * networks and labels an engine has, what Keystone answers. This sends one JSON request with
 * node:http over a fresh connection (a unix socket or loopback TCP), so no keep-alive socket that
 * a daemon has already closed can fail the next request, and parses the response as JSON only when
 * the daemon says it is JSON, so error texts and streams come back exactly as they were sent.
 */
import { request } from "node:http";
import { createServer } from "node:net";

export type HttpTarget = { socketPath: string } | { host: string; port: number };

export interface JsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface JsonRequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export function jsonRequest(target: HttpTarget, method: string, path: string, opts: JsonRequestOptions = {}): Promise<JsonResponse> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string | number> = { ...opts.headers };
  if (payload) Object.assign(headers, { "Content-Type": "application/json", "Content-Length": payload.length });
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const isJson = /^application\/json\b/i.test(res.headers["content-type"] ?? "") && text.length > 0;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: isJson ? JSON.parse(text) : text });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} took longer than ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it; nothing listens on it now). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
