/**
 * Long-lived streams. Attach and exec start leave HTTP: the engine answers `101 UPGRADED` (or, to a
 * legacy client that sent no Upgrade header, `200` with a raw-stream content type) and the
 * connection carries stdin/stdout both ways. The tunnel writes the already-authorised request on a
 * fresh engine connection and reads the engine's answer head itself: only a real hijack opens the
 * two-way pipe (and only then do the client's early bytes go to the engine, where they can be
 * nothing but stdin); any other answer is relayed as a response and the connection closed, so no
 * second request can ever reach the engine unchecked. Bulk bodies (copies out, exports, logs) are
 * relayed the same way in one direction: the engine's bytes after its answer head go to the client
 * as the engine framed them, on a connection of each side's own that ends with the body. Events and
 * stats are JSON streams, rewritten object by object as they arrive.
 */
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Upstream } from "./upstream/engine.ts";

export interface EngineHead {
  status: number;
  statusText: string;
  headers: Record<string, string>;
}

const MAX_HEAD = 64 * 1024;
const MAX_PLAIN_BODY = 1024 * 1024;

export function isHijackAnswer(head: EngineHead): boolean {
  if (head.status === 101) return true;
  const type = head.headers["content-type"] ?? "";
  return head.status >= 200 && head.status < 300 && /application\/vnd\.docker\.(raw|multiplexed)-stream/.test(type);
}

export function parseHead(raw: string): EngineHead {
  const [statusLine, ...lines] = raw.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine ?? "");
  if (!match) throw new Error(`malformed answer from the engine: ${statusLine?.slice(0, 80)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(match[1]), statusText: match[2] ?? "", headers };
}

export interface TunnelRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The protocol to ask the engine to upgrade to (`tcp`, `websocket`), or none: a legacy client's plain request the engine hijacks. */
  upgrade: string | undefined;
}

export type PlainAnswer = (head: EngineHead, body: Buffer) => void;

/**
 * Runs one hijacked exchange. `clientRest` holds bytes the client sent after its request, which
 * are held back until the engine has hijacked. Resolves when both directions are done.
 */
export async function tunnel(engine: Upstream, client: Duplex, clientRest: Buffer, request: TunnelRequest, plainAnswer: PlainAnswer): Promise<void> {
  const connection = await engine.connect();
  const connectionHeaders: Record<string, string> = request.upgrade ? { Connection: "Upgrade", Upgrade: request.upgrade } : { Connection: "close" };
  connection.write(
    requestHead(request.method, request.path, "1.1", { ...request.headers, "Content-Length": String(request.body.length), ...connectionHeaders }),
  );
  if (request.body.length > 0) connection.write(request.body);

  const { head, rawHead, rest } = await readHead(connection);
  if (!isHijackAnswer(head)) {
    const body = await readPlainBody(connection, head, rest);
    connection.destroy();
    plainAnswer(head, body);
    return;
  }
  client.write(rawHead);
  if (rest.length > 0) client.write(rest);
  if (clientRest.length > 0) connection.write(clientRest);
  await new Promise<void>((resolve) => {
    const closeBoth = () => {
      connection.destroy();
      client.destroy();
      resolve();
    };
    connection.once("error", closeBoth);
    client.once("error", closeBoth);
    client.once("close", closeBoth);
    // The engine is done (the process exited): what is still buffered flushes to the client, whose
    // side then ends; the client closing afterwards tears down the rest.
    connection.once("close", resolve);
    connection.pipe(client);
    client.pipe(connection);
  });
}

function requestHead(method: string, path: string, httpVersion: RelayRequest["httpVersion"], headers: Record<string, string>): string {
  const lines = Object.entries({ Host: "docker", ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} ${path} HTTP/${httpVersion}\r\n${lines.join("")}\r\n`;
}

export interface RelayRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /**
   * The client's HTTP version, so the engine frames the body as the client reads it: chunked for
   * 1.1, up to the connection's end for 1.0 (which has no chunks).
   */
  httpVersion: "1.0" | "1.1";
}

/** Answer headers that belong to the engine's connection, not the client's. */
const ENGINE_CONNECTION_HEADERS = new Set(["connection", "keep-alive", "proxy-connection"]);

/**
 * The head the client gets for a relayed body: the engine's status and headers, its framing
 * (Content-Length or Transfer-Encoding) kept as the body's bytes carry it, and `Connection: close`:
 * the client's connection ends with the body, so whatever the bytes are, nothing after them is read
 * as another answer.
 */
export function relayedHead(head: EngineHead): string {
  const lines = Object.entries(head.headers)
    .filter(([name]) => !ENGINE_CONNECTION_HEADERS.has(name))
    .map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${head.status} ${head.statusText}\r\n${lines.join("")}connection: close\r\n\r\n`;
}

/**
 * Relays one bulk answer (a copy out, an export, logs) on a fresh engine connection that the engine
 * closes after it (`Connection: close`), so the body ends where the engine's connection ends and no
 * byte of it is parsed or re-chunked here. A success's head goes to the client at once (the docker
 * CLI acts on heads), then the bytes as they come, with backpressure both ways, then the client's
 * connection is closed; an error answer (400 and up) is read whole and handed to `errorAnswer`, which
 * writes it in the tenant's names on the client's connection, still unused. The client going away
 * at any point closes the engine's connection: an unread copy must not hold the container's lock.
 * Resolves when both connections are done with.
 */
export async function relay(engine: Upstream, client: Socket, request: RelayRequest, errorAnswer: PlainAnswer): Promise<void> {
  const connection = await engine.connect();
  const clientGone = () => connection.destroy();
  client.once("close", clientGone);
  try {
    connection.write(requestHead(request.method, request.path, request.httpVersion, { ...request.headers, Connection: "close" }));
    const { head, rest } = await readHead(connection);
    if (head.status >= 400) {
      const body = await readPlainBody(connection, head, rest);
      connection.destroy();
      errorAnswer(head, body);
      return;
    }
    client.write(relayedHead(head));
    if (rest.length > 0) client.write(rest);
    // pipeline ends the client's side when the engine's answer ends, and destroys both if either fails.
    await pipeline(connection, client).then(
      () => client.destroySoon(),
      () => client.destroy(),
    );
  } finally {
    client.off("close", clientGone);
  }
}

function readHead(connection: Duplex): Promise<{ head: EngineHead; rawHead: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) {
        if (buffered.length > MAX_HEAD) finish(new Error("the engine's answer head is too large"));
        return;
      }
      connection.pause();
      const rawHead = buffered.subarray(0, end + 4);
      try {
        finish(undefined, { head: parseHead(rawHead.toString("latin1").slice(0, -4)), rawHead, rest: buffered.subarray(end + 4) });
      } catch (error) {
        finish(error as Error);
      }
    };
    const onEnd = () => finish(new Error("the engine closed the connection without answering"));
    const finish = (error?: Error, result?: { head: EngineHead; rawHead: Buffer; rest: Buffer }) => {
      connection.off("data", onData);
      connection.off("end", onEnd);
      connection.off("close", onEnd);
      connection.off("error", finish);
      if (error) {
        connection.destroy();
        reject(error);
      } else resolve(result!);
    };
    connection.on("data", onData);
    connection.once("end", onEnd);
    // Destroyed here (a relay's client went away) rather than ended by the engine.
    connection.once("close", onEnd);
    connection.once("error", finish);
  });
}

function readPlainBody(connection: Duplex, head: EngineHead, rest: Buffer): Promise<Buffer> {
  const declared = head.headers["content-length"];
  const expected = declared === undefined ? undefined : Number(declared);
  return new Promise((resolve) => {
    let body = rest;
    const settle = () => {
      connection.removeAllListeners("data");
      if (expected !== undefined) resolve(body.subarray(0, expected));
      else resolve(/chunked/i.test(head.headers["transfer-encoding"] ?? "") ? dechunked(body) : body);
    };
    if (expected !== undefined && body.length >= expected) return settle();
    connection.on("data", (chunk: Buffer) => {
      body = Buffer.concat([body, chunk]);
      if ((expected !== undefined && body.length >= expected) || body.length > MAX_PLAIN_BODY) settle();
    });
    connection.once("end", settle);
    connection.once("close", settle);
    connection.once("error", settle);
    connection.resume();
  });
}

/** A chunked body without its framing (the chunks' data in order); what a cut-short body held so far. */
export function dechunked(framed: Buffer): Buffer {
  const chunks: Buffer[] = [];
  let at = 0;
  for (;;) {
    const sizeEnd = framed.indexOf("\r\n", at);
    if (sizeEnd === -1) break;
    // A size line may carry extensions after ';'. Size 0 is the last chunk; no number, no chunk.
    const size = Number.parseInt(framed.subarray(at, sizeEnd).toString("latin1").split(";")[0]!, 16);
    if (!(size > 0)) break;
    chunks.push(framed.subarray(sizeEnd + 2, sizeEnd + 2 + size));
    at = sizeEnd + 2 + size + 2;
  }
  return Buffer.concat(chunks);
}

/**
 * Rewrites a stream of JSON objects (one per line, as the engine writes events and stats), dropping
 * those the rewrite returns undefined for. A line that is not JSON is dropped too: it cannot be
 * checked, so it is not passed on.
 */
export function jsonStreamRewriter(rewrite: (item: any) => unknown | undefined): Transform {
  let pending = "";
  const emit = (transform: Transform, line: string) => {
    if (line.trim() === "") return;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      return;
    }
    const rewritten = rewrite(item);
    if (rewritten !== undefined) transform.push(`${JSON.stringify(rewritten)}\n`);
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      pending += chunk.toString("utf8");
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) emit(this, line);
      callback();
    },
    flush(callback) {
      emit(this, pending);
      callback();
    },
  });
}
