/**
 * The listening side: plain TCP or TLS, then Node's HTTP parser. One thing Node cannot do alone is
 * the legacy hijack, where an old client sends `POST .../attach` without an Upgrade header and then
 * simply keeps writing stdin on the connection. So the first request head of every connection is
 * peeked at before the parser sees it; if it is such a request, an `Upgrade: tcp` header is added
 * for the parser's sake and the connection is remembered as legacy, so the engine is asked the old
 * way and answers the old way. Later requests on a kept-alive connection are not rewritten: a hijack
 * there must carry the Upgrade header (the pipeline says so). A connection gets `headersTimeoutMs` to
 * send its first head, peeked or not: before credentials it is nobody's call, so nothing else bounds
 * how many silent or trickling connections one client keeps open.
 */
import http, { type IncomingMessage } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";

export interface StreamHandlers {
  onRequest(req: IncomingMessage, res: http.ServerResponse): Promise<void>;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, legacy: boolean): Promise<void>;
}

const MAX_PEEK = 16 * 1024;
const LEGACY_HIJACK_TARGET = /^POST (\/v\d+\.\d+)?\/(containers\/[^/?\s]+\/attach|exec\/[^/?\s]+\/start)(\?\S*)? HTTP\/1\.[01]$/;

/** Whether a complete request head is a hijack request without an Upgrade header. */
export function isLegacyHijackHead(head: string): boolean {
  const [requestLine, ...headerLines] = head.split("\r\n");
  if (!LEGACY_HIJACK_TARGET.test(requestLine ?? "")) return false;
  return !headerLines.some((line) => /^upgrade\s*:/i.test(line));
}

function markedForUpgrade(buffered: Buffer, requestLineEnd: number): Buffer {
  return Buffer.concat([
    buffered.subarray(0, requestLineEnd + 2),
    Buffer.from("Connection: Upgrade\r\nUpgrade: tcp\r\n"),
    buffered.subarray(requestLineEnd + 2),
  ]);
}

export interface BerthServer {
  server: net.Server;
  close(): Promise<void>;
}

export interface ServerOptions {
  tls?: { cert: Buffer; key: Buffer };
  /** How long a client may take to send a request head (BERTH_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number;
}

export function createServer(handlers: StreamHandlers, options: ServerOptions): BerthServer {
  const { tls: tlsOptions, headersTimeoutMs } = options;
  const legacySockets = new WeakSet<Duplex>();
  const httpServer = http.createServer({ requestTimeout: 0, headersTimeout: headersTimeoutMs, keepAliveTimeout: 5_000 });
  httpServer.on("request", (req, res) => void handlers.onRequest(req, res));
  httpServer.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    void handlers.onUpgrade(req, socket, head, legacySockets.has(socket));
  });
  httpServer.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ message: `malformed HTTP request: ${error.code ?? error.message}` });
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });

  const connections = new Set<Duplex>();
  const accept = (socket: Duplex) => {
    // Answers often go as a flushed head and then a small body: without no-delay the body would
    // wait for the client's delayed ACK (measured: 44 ms on a `wait`).
    (socket as net.Socket).setNoDelay?.(true);
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered: Buffer = Buffer.alloc(0);
    const tooSlow = () => socket.destroy();
    (socket as net.Socket).setTimeout(headersTimeoutMs);
    socket.once("timeout", tooSlow);
    const handOver = () => {
      // From here Node's parser times the head (headersTimeout), and streams may be idle for long.
      (socket as net.Socket).setTimeout(0);
      socket.off("timeout", tooSlow);
      socket.off("data", onData);
      socket.pause();
      if (buffered.length > 0) socket.unshift(buffered);
      httpServer.emit("connection", socket);
      process.nextTick(() => socket.resume());
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const headEnd = buffered.indexOf("\r\n\r\n");
      if (headEnd === -1 && buffered.length < MAX_PEEK) return;
      if (headEnd !== -1 && isLegacyHijackHead(buffered.subarray(0, headEnd).toString("latin1"))) {
        legacySockets.add(socket);
        buffered = markedForUpgrade(buffered, buffered.indexOf("\r\n"));
      }
      handOver();
    };
    socket.on("data", onData);
  };

  // Half-open on both: the docker CLI half-closes a hijacked connection when stdin ends (under TLS
  // too, with a TCP FIN beneath the session) and still reads the container's output after that.
  const server = tlsOptions
    ? tls.createServer({ cert: tlsOptions.cert, key: tlsOptions.key, minVersion: "TLSv1.2", allowHalfOpen: true }).on("secureConnection", accept)
    : net.createServer({ allowHalfOpen: true }, accept);
  if (tlsOptions) server.on("tlsClientError", () => undefined);

  return {
    server,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        httpServer.closeIdleConnections();
        // Long streams (logs -f, events, attach) would hold shutdown forever: end them.
        setTimeout(() => connections.forEach((socket) => socket.destroy()), 2_000).unref();
      }),
  };
}
