/**
 * The relay of bulk bodies (logs, copies out, exports), against a stand-in engine on a unix socket:
 * what the engine is asked, what the client gets byte for byte, where an error answer goes, and that
 * the client going away closes the engine's connection (an unread copy holds the container's lock).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dechunked, type EngineHead, relay, relayedHead, type RelayRequest } from "../../tenant-proxy/src/streams.ts";
import { Engine } from "../../tenant-proxy/src/upstream/engine.ts";

const REQUEST: RelayRequest = {
  method: "GET",
  path: "/v1.41/containers/abc/archive?path=%2Fbig",
  headers: { "user-agent": "Docker-Client/20.10" },
  httpVersion: "1.1",
};
const CHUNKED_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

let dir: string;
let engineServer: Server;
/** What the stand-in engine does with each connection: it is handed the socket and the request head. */
let answer: (socket: Socket, requestHead: string) => void;
let engineClosed: Promise<void>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-relay-"));
  let closed: () => void;
  engineClosed = new Promise((resolve) => {
    closed = resolve;
  });
  engineServer = createServer((socket) => {
    let head = "";
    socket.on("close", () => closed());
    socket.on("error", () => undefined);
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      answer(socket, head);
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => engineServer.listen(join(dir, "engine.sock"), resolve));
});

afterEach(async () => {
  await new Promise((resolve) => engineServer.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** A client connection to a local port; `server` is the proxy's side of it, `received` all the client read. */
async function clientPair(): Promise<{ server: Socket; client: Socket; received: Promise<Buffer> }> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<Socket>((resolve) => listener.once("connection", resolve));
  const client = createConnection((listener.address() as { port: number }).port, "127.0.0.1");
  const server = await accepted;
  listener.close();
  const received = new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    client.on("data", (chunk: Buffer) => chunks.push(chunk));
    client.on("close", () => resolve(Buffer.concat(chunks)));
    client.on("error", () => undefined);
  });
  return { server, client, received };
}

const engine = () => new Engine({ kind: "unix", path: join(dir, "engine.sock") }, 3_000);

describe("relayed bulk bodies", () => {
  it("asks the engine to close after the answer, in the client's HTTP version", async () => {
    let asked = "";
    answer = (socket, head) => {
      asked = head;
      socket.end("HTTP/1.0 200 OK\r\nContent-Type: application/x-tar\r\n\r\nbytes");
    };
    const { server, received } = await clientPair();
    await relay(engine(), server, { ...REQUEST, httpVersion: "1.0" }, () => expect.unreachable());
    await received;
    expect(asked.split("\r\n")[0]).toBe(`GET ${REQUEST.path} HTTP/1.0`);
    expect(asked).toContain("\r\nConnection: close\r\n");
    expect(asked).toContain("\r\nuser-agent: Docker-Client/20.10\r\n");
  });

  it("hands the client the engine's chunked bytes as they are, after a head that closes the connection", async () => {
    const body = `5\r\nhello\r\n3;ext=1\r\n\r\n0\r\n\r\n`;
    answer = (socket) => {
      socket.write(CHUNKED_HEAD);
      setTimeout(() => socket.end(body), 20);
    };
    const { server, client, received } = await clientPair();
    const headArrived = new Promise<string>((resolve) => client.once("data", (chunk: Buffer) => resolve(chunk.toString("latin1"))));
    const relayed = relay(engine(), server, REQUEST, () => expect.unreachable());
    // The head goes on before any of the body exists: the docker CLI acts on heads.
    expect(await headArrived).toBe("HTTP/1.1 200 OK\r\ncontent-type: application/x-tar\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    await relayed;
    const all = (await received).toString("latin1");
    expect(all.slice(all.indexOf("\r\n\r\n") + 4)).toBe(body);
  });

  it("gives an error answer, chunked or not, to the error writer with the client's connection untouched", async () => {
    answer = (socket) =>
      socket.end(
        'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n19\r\n{"message":"No such conta\r\n9\r\niner: x"}\r\n0\r\n\r\n',
      );
    const { server, client } = await clientPair();
    let error: { head: EngineHead; body: string } | undefined;
    await relay(engine(), server, REQUEST, (head, body) => {
      error = { head, body: body.toString("utf8") };
    });
    expect(error?.head.status).toBe(404);
    expect(error?.body).toBe('{"message":"No such container: x"}');
    expect(server.destroyed).toBe(false);
    expect(server.bytesWritten).toBe(0);
    client.destroy();
  });

  it("closes the engine's connection when the client goes away in the middle of the body", async () => {
    answer = (socket) => {
      socket.write(CHUNKED_HEAD);
      socket.write("4\r\npart\r\n");
      // ...and never more, as an engine whose copy is not read keeps its container locked.
    };
    const { server, client } = await clientPair();
    client.once("data", () => client.destroy());
    await relay(engine(), server, REQUEST, () => expect.unreachable());
    await engineClosed;
  });

  it("closes the engine's connection when the client goes away before the engine answered", async () => {
    answer = () => undefined;
    const { server, client } = await clientPair();
    const relayed = relay(engine(), server, REQUEST, () => expect.unreachable());
    setTimeout(() => client.destroy(), 50);
    await engineClosed;
    await expect(relayed).rejects.toThrow(/closed the connection without answering/);
  });
});

describe("relayedHead", () => {
  it("keeps the engine's framing and headers, drops its connection's, and closes the client's", () => {
    const head: EngineHead = {
      status: 200,
      statusText: "OK",
      headers: { "content-length": "12", connection: "keep-alive", "keep-alive": "timeout=5", "x-docker-container-path-stat": "eyJ9" },
    };
    expect(relayedHead(head)).toBe("HTTP/1.1 200 OK\r\ncontent-length: 12\r\nx-docker-container-path-stat: eyJ9\r\nconnection: close\r\n\r\n");
  });
});

describe("dechunked", () => {
  it("joins the chunks' data, ignoring extensions and trailers", () => {
    expect(dechunked(Buffer.from("3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n")).toString()).toBe("abcde");
  });

  it("keeps what a cut-short body held", () => {
    expect(dechunked(Buffer.from("3\r\nabc\r\n5\r\nde")).toString()).toBe("abcde");
  });
});
