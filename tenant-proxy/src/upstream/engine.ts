/**
 * One Docker engine, reached over its unix socket or TCP. The rest of the proxy talks to engines
 * only through the small `Upstream` interface below (send a request, open a raw connection for a
 * hijacked stream, make a JSON call of its own), so cluster mode can put a pool of engines behind
 * the same interface. Connections are kept alive; the proxy's own lookups have a timeout, while
 * tenants' calls do not, because `stop -t 600` or `wait` legitimately take as long as they take.
 *
 * Each engine has three connection pools, so that what tenants hold open can never delay what the
 * proxy needs: tenants' calls and streams (as many connections as they hold: the call limits bound
 * them, see call-limits.ts), the proxy's own lookups and fan-outs, and the health checks, which have a
 * connection of their own. With one shared pool, 256 `docker events` streams of one tenant filled
 * it, every later call queued, health checks timed out, and every node was marked down.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import net from "node:net";
import { type Readable, finished } from "node:stream";
import { API_VERSION } from "../http/api-version.ts";
import { Refusal } from "../http/errors.ts";

/** The engine API version the proxy's own calls use: the one it speaks (http/api-version.ts). */
export const ENGINE_API = `/v${API_VERSION}`;

/** Where an engine listens: its unix socket, or a TCP address (BERTH_UPSTREAM, a nodes file line). */
export type UpstreamAddress = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

/** An engine error met during a lookup, passed on with the engine's own status and message. */
export function passEngineError(answer: { status: number; body: any }): Refusal {
  const message = typeof answer.body?.message === "string" ? answer.body.message : `engine answered ${answer.status}`;
  return new Refusal(answer.status >= 400 ? answer.status : 502, message, "engine-error");
}

export interface EngineRequest {
  method: string;
  /** Path with version prefix and query, e.g. `/v1.41/containers/json?all=1`. */
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | Readable;
  /** Give up when no response head arrived in time (the proxy's own lookups only). */
  timeoutMs?: number;
}

/** Which connection pool a call uses: a tenant's call, the proxy's own lookup, a health check. */
type Pool = "tenant" | "lookup" | "health";

export interface JsonAnswer {
  status: number;
  body: any;
}

export interface Upstream {
  readonly name: string;
  request(request: EngineRequest): Promise<IncomingMessage>;
  /** A fresh raw connection, for attach and exec streams that leave HTTP behind. */
  connect(): Promise<net.Socket>;
  /** The proxy's own call, on the lookup connections, within the engine timeout. */
  json(method: string, path: string, body?: unknown): Promise<JsonAnswer>;
  /**
   * A tenant's call that the proxy reads as JSON, on the tenants' connections and for as long as
   * the engine takes: a start or restart waits out the tenant's own stop timeout.
   */
  tenantJson(method: string, path: string, body?: unknown): Promise<JsonAnswer>;
  /** A health check's call, on a connection of its own, given up (and its connection closed) after `timeoutMs`. */
  health(path: string, timeoutMs: number): Promise<JsonAnswer>;
  /** Closes kept-alive connections (at shutdown). */
  close(): void;
}

export const engineUnavailable = (name: string, why: string): Refusal =>
  new Refusal(502, `the Docker engine ${name} is unavailable: ${why}`, "engine-unavailable");

export class Engine implements Upstream {
  private readonly agents: Record<Pool, http.Agent> = {
    tenant: new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 32 }),
    // Bounds the proxy's bursts (an inspect per container when the cluster state reads a node).
    lookup: new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 32 }),
    // One check at a time per node (Cluster deduplicates them); a spare for the one being closed.
    health: new http.Agent({ keepAlive: true, maxSockets: 2, maxFreeSockets: 1 }),
  };

  readonly name: string;

  /** `timeoutMs` bounds the proxy's own calls (lookups, creates); tenants' streams are unbounded. */
  constructor(
    private readonly address: UpstreamAddress,
    private readonly timeoutMs: number,
  ) {
    this.name = address.kind === "unix" ? address.path : `${address.host}:${address.port}`;
  }

  /** A tenant's call (forwarded, or a stream), on the tenants' connections. */
  request(request: EngineRequest): Promise<IncomingMessage> {
    return this.send(request, "tenant");
  }

  private send(request: EngineRequest, pool: Pool): Promise<IncomingMessage> {
    const target = this.address.kind === "unix" ? { socketPath: this.address.path } : { host: this.address.host, port: this.address.port };
    return new Promise((resolve, reject) => {
      const outgoing = http.request({
        ...target,
        agent: this.agents[pool],
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
      const socket = this.address.kind === "unix" ? net.connect(this.address.path) : net.connect(this.address.port, this.address.host);
      socket.once("connect", () => {
        socket.removeAllListeners("error");
        resolve(socket);
      });
      socket.once("error", (error) => reject(engineUnavailable(this.name, error.message)));
    });
  }

  json(method: string, path: string, body?: unknown): Promise<JsonAnswer> {
    return this.jsonOn("lookup", method, path, body, this.timeoutMs);
  }

  tenantJson(method: string, path: string, body?: unknown): Promise<JsonAnswer> {
    return this.jsonOn("tenant", method, path, body, undefined);
  }

  health(path: string, timeoutMs: number): Promise<JsonAnswer> {
    return this.jsonOn("health", "GET", path, undefined, timeoutMs);
  }

  private async jsonOn(pool: Pool, method: string, path: string, body: unknown, timeoutMs: number | undefined): Promise<JsonAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const response = await this.send(
      { method, path, headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}, body: payload, timeoutMs },
      pool,
    );
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
    for (const agent of Object.values(this.agents)) agent.destroy();
  }
}

/**
 * A whole body as text. Read with events rather than an async iterator, which costs a promise per
 * chunk on every call the proxy reads (each inspect, each list).
 */
export function readAll(stream: Readable, limit = 256 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) stream.destroy(new Error(`engine response over ${limit} bytes`));
      else chunks.push(chunk);
    });
    finished(stream, (error) => (error ? reject(error) : resolve(Buffer.concat(chunks, size).toString("utf8"))));
  });
}
