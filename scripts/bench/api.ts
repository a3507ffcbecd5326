/**
 * An Engine API client as a program would hold one: one kept-alive connection (an Agent with a
 * single socket), so a sample measures the call and not a TCP or unix handshake. It checks every
 * status, because a proxy that quickly answers 403 or 404 would otherwise look fast; a call that
 * fails stops the benchmark instead of being measured.
 */
import http from "node:http";
import { TEST_IMAGE } from "../harness/index.ts";
import type { HttpTarget } from "./paths.ts";

export const API = "/v1.41";

export class ApiClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly target: HttpTarget,
    private readonly headers: Record<string, string>,
  ) {}

  /** Sends one call and reads the whole answer; the status must be one of `expected`. */
  call(method: string, path: string, body?: unknown, expected = [200, 201, 204]): Promise<string> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = { ...this.headers };
    if (payload) Object.assign(headers, { "Content-Type": "application/json", "Content-Length": payload.length });
    return new Promise((resolve, reject) => {
      const req = http.request({ ...this.target, agent: this.agent, method, path: `${API}${path}`, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (expected.includes(res.statusCode ?? 0)) resolve(text);
          else reject(new Error(`${method} ${path} answered ${res.statusCode}: ${text.slice(0, 300)}`));
        });
      });
      req.on("error", reject);
      req.end(payload);
    });
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return JSON.parse(await this.call(method, path, body)) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Creates `count` unnamed containers of TEST_IMAGE, `concurrency` clients at a time; returns their ids. */
export async function createContainers(target: HttpTarget, headers: Record<string, string>, count: number, concurrency: number): Promise<string[]> {
  const clients = Array.from({ length: concurrency }, () => new ApiClient(target, headers));
  const ids: string[] = [];
  let next = 0;
  try {
    await Promise.all(
      clients.map(async (client) => {
        while (next < count) {
          next++;
          ids.push((await client.json<{ Id: string }>("POST", "/containers/create", { Image: TEST_IMAGE, Cmd: ["true"] })).Id);
        }
      }),
    );
  } finally {
    for (const client of clients) client.close();
  }
  return ids;
}
