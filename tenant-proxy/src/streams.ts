/**
 * Long-lived streams. Attach and exec start leave HTTP: the engine answers `101 UPGRADED` (or, to a
 * legacy client that sent no Upgrade header, `200` with a raw-stream content type) and the
 * connection carries stdin/stdout both ways. The tunnel writes the already-authorised request on a
 * fresh engine connection and reads the engine's answer head itself: only a real hijack opens the
 * two-way pipe (and only then do the client's early bytes go to the engine, where they can be
 * nothing but stdin); any other answer is relayed as a response and the connection closed, so no
 * second request can ever reach the engine unchecked. Events and stats are JSON streams, rewritten
 * object by object as they arrive.
 */
import type { Duplex } from "node:stream";
import { Transform } from "node:stream";
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
  const headerLines = Object.entries({
    Host: "docker",
    ...request.headers,
    "Content-Length": String(request.body.length),
    ...(request.upgrade ? { Connection: "Upgrade", Upgrade: request.upgrade } : { Connection: "close" }),
  }).map(([name, value]) => `${name}: ${value}\r\n`);
  connection.write(`${request.method} ${request.path} HTTP/1.1\r\n${headerLines.join("")}\r\n`);
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
      connection.off("error", finish);
      if (error) {
        connection.destroy();
        reject(error);
      } else resolve(result!);
    };
    connection.on("data", onData);
    connection.once("end", onEnd);
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
      resolve(expected === undefined ? body : body.subarray(0, expected));
    };
    if (expected !== undefined && body.length >= expected) return settle();
    connection.on("data", (chunk: Buffer) => {
      body = Buffer.concat([body, chunk]);
      if ((expected !== undefined && body.length >= expected) || body.length > MAX_PLAIN_BODY) settle();
    });
    connection.once("end", settle);
    connection.once("error", settle);
    connection.resume();
  });
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
