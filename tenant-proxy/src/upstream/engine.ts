/**
 * One Docker engine, reached over its unix socket or TCP. The rest of the proxy talks to engines
 * only through the small `Upstream` interface below (send a request, open a raw connection for a
 * hijacked stream, make a JSON call of its own), so cluster mode can put a pool of engines behind
 * the same interface. Connections are kept alive; the proxy's own lookups have a timeout, while
 * tenants' calls do not, because `stop -t 600` or `wait` legitimately take as long as they take.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import net from "node:net";
import type { Readable } from "node:stream";
import { Refusal } from "../http/errors.ts";
import type { UpstreamAddress } from "../settings.ts";

export interface EngineRequest {
  method: string;
  /** Path with version prefix and query, e.g. `/v1.41/containers/json?all=1`. */
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | Readable;
  /** Give up when no response head arrived in time (the proxy's own lookups only). */
  timeoutMs?: number;
}

export interface JsonAnswer {
  status: number;
  body: any;
}

export interface Upstream {
  readonly name: string;
  request(request: EngineRequest): Promise<IncomingMessage>;
  /** A fresh raw connection, for attach and exec streams that leave HTTP behind. */
  connect(): Promise<net.Socket>;
  json(method: string, path: string, body?: unknown): Promise<JsonAnswer>;
  /** Closes kept-alive connections (at shutdown). */
  close(): void;
}

export const engineUnavailable = (name: string, why: string): Refusal =>
  new Refusal(502, `the Docker engine ${name} is unavailable: ${why}`, "engine-unavailable");

export class Engine implements Upstream {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 32 });

  readonly name: string;

  /** `timeoutMs` bounds the proxy's own calls (lookups, creates); tenants' streams are unbounded. */
  constructor(
    private readonly address: UpstreamAddress,
    private readonly timeoutMs: number,
  ) {
    this.name = address.kind === "unix" ? address.path : `${address.host}:${address.port}`;
  }

  request(request: EngineRequest): Promise<IncomingMessage> {
    const target =
      this.address.kind === "unix" ? { socketPath: this.address.path } : { host: this.address.host, port: this.address.port };
    return new Promise((resolve, reject) => {
      const outgoing = http.request({
        ...target,
        agent: this.agent,
        method: request.method,
        path: request.path,
        headers: { Host: "docker", ...request.headers },
      });
      let timer: NodeJS.Timeout | undefined;
      if (request.timeoutMs !== undefined) {
        timer = setTimeout(() => outgoing.destroy(new Error(`no answer within ${request.timeoutMs} ms`)), request.timeoutMs);
      }
      outgoing.on("response", (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      outgoing.on("error", (error) => {
        clearTimeout(timer);
        reject(engineUnavailable(this.name, error.message));
      });
      const body = request.body;
      if (body === undefined) outgoing.end();
      else if (Buffer.isBuffer(body)) outgoing.end(body);
      else {
        body.on("error", (error) => outgoing.destroy(error));
        body.pipe(outgoing);
      }
    });
  }

  connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket =
        this.address.kind === "unix" ? net.connect(this.address.path) : net.connect(this.address.port, this.address.host);
      socket.once("connect", () => {
        socket.removeAllListeners("error");
        resolve(socket);
      });
      socket.once("error", (error) => reject(engineUnavailable(this.name, error.message)));
    });
  }

  async json(method: string, path: string, body?: unknown): Promise<JsonAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const response = await this.request({
      method,
      path,
      headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {},
      body: payload,
      timeoutMs: this.timeoutMs,
    });
    const text = await readAll(response);
    let parsed: unknown = text;
    if (/json/.test(String(response.headers["content-type"] ?? "")) && text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw engineUnavailable(this.name, `malformed JSON from ${method} ${path}`);
      }
    }
    return { status: response.statusCode ?? 0, body: parsed };
  }

  close(): void {
    this.agent.destroy();
  }
}

export async function readAll(stream: Readable, limit = 256 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`engine response over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
