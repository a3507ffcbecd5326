/**
 * The floor for any proxy written in Node: a bare HTTP pass-through to the engine's unix socket, on
 * the same Node 18 the tenant proxy runs on, doing nothing a proxy could skip (no identity, no
 * rewriting): requests and answers are piped with Node's own HTTP parser on both sides, headers
 * flushed at once (the docker CLI waits for the head of `wait`), `Accept-Encoding` dropped, upgrades (attach) tunnelled as raw
 * bytes. Plain JavaScript, so Node 18 runs it as it is. Usage: node node-hop.cjs <engine socket>;
 * it prints `listening <port>` on a free loopback port.
 */
"use strict";
const http = require("node:http");
const net = require("node:net");

const socketPath = process.argv[2];
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

const server = http.createServer((req, res) => {
  // Dropped as HAProxy's config and the tenant proxy drop it: the engine would gzip `docker cp`.
  delete req.headers["accept-encoding"];
  const upstream = http.request({ socketPath, agent, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    res.flushHeaders();
    answer.pipe(res);
  });
  upstream.on("error", () => res.destroy());
  req.pipe(upstream);
});

server.on("upgrade", (req, client, head) => {
  const engine = net.connect(socketPath, () => {
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    engine.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length > 0) engine.write(head);
    engine.pipe(client);
    client.pipe(engine);
  });
  const close = () => {
    engine.destroy();
    client.destroy();
  };
  engine.on("error", close);
  client.on("error", close);
});

server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
