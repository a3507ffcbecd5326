/**
 * The per-request hop's own helpers (issue 13): reading a body, and writing a JSON answer. They
 * were made cheaper; these tests hold them to the bytes and refusals of the straightforward code.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readBody } from "../../tenant-proxy/src/http/request.ts";
import { jsonLine } from "../../tenant-proxy/src/steps/respond.ts";
import { readAll } from "../../tenant-proxy/src/upstream/engine.ts";

/** What `Buffer.from(JSON.stringify(body) + "\n")` gave, the encoding jsonLine replaced. */
const plainLine = (body: unknown) => Buffer.from(`${JSON.stringify(body)}\n`);

describe("jsonLine", () => {
  it.each([
    ["a name with a quote and a backslash", { Names: ['/t1_we"b\\'], Labels: { 'k"}': '"},{"Names":["/t2_x"]}' } }],
    ["unicode: accents, astral characters, escapes of separators", { Name: "/t1_é🐳\u2028\u2029\u0000", Status: "Up\t5\nminutes" }],
    ["a lone surrogate", { Name: "/t1_\ud800x" }],
    ["huge and odd numbers", { SizeRw: 2 ** 64, Created: 1e308, Tiny: 5e-324, Negative: -0, Nan: Number.NaN }],
    ["nesting", JSON.parse(`${"[".repeat(60)}1${"]".repeat(60)}`)],
    ["a bare string", "text"],
    ["an empty list", []],
  ])("encodes %s exactly as Buffer.from did", (_, body) => {
    expect(jsonLine(body).equals(plainLine(body))).toBe(true);
  });

  it("encodes a list of 200 containers byte for byte, and as valid JSON", () => {
    const list = Array.from({ length: 200 }, (_, index) => ({ Id: index.toString(16).padStart(64, "0"), Names: [`/web-${index}-ü`], Labels: { app: "x" } }));
    const line = jsonLine(list);
    expect(line.equals(plainLine(list))).toBe(true);
    expect(JSON.parse(line.toString("utf8"))).toEqual(list);
  });

  it("encodes answers at and past the size of its scratch buffer, three-byte characters and all", () => {
    for (const body of ["€".repeat(512 * 1024 - 2), "€".repeat(512 * 1024), ["a".repeat(700_000)], { Name: "é".repeat(300_000), Id: "x" }]) {
      expect(jsonLine(body).equals(plainLine(body))).toBe(true);
    }
  });

  it("gives every answer a buffer of its own, untouched by the next answer", () => {
    const first = jsonLine({ Names: ["/t1_first"] });
    jsonLine({ Names: ["/t2_second-and-longer"] });
    expect(first.toString()).toBe('{"Names":["/t1_first"]}\n');
  });

  it("answers null for undefined, which JSON.stringify leaves without any text", () => {
    expect(jsonLine(undefined).toString()).toBe("null\n");
  });

  it("lets the engine's duplicate keys through only as the one value every other step read", () => {
    const parsed = JSON.parse('{"Names":["/t2_other"],"Names":["/t1_own"]}');
    expect(jsonLine(parsed).toString()).toBe('{"Names":["/t1_own"]}\n');
  });
});

describe("readAll", () => {
  it("joins the chunks before decoding, so a character split between two chunks stays whole", async () => {
    const bytes = Buffer.from('{"Name":"/t1_🐳"}');
    const chunks = [bytes.subarray(0, 15), bytes.subarray(15, 17), bytes.subarray(17)];
    expect(await readAll(Readable.from(chunks, { objectMode: false }))).toBe('{"Name":"/t1_🐳"}');
  });

  it("reads an empty body as empty text", async () => {
    expect(await readAll(Readable.from([]))).toBe("");
  });

  it("refuses a body over the limit and stops reading it", async () => {
    const stream = Readable.from([Buffer.alloc(10), Buffer.alloc(10)]);
    await expect(readAll(stream, 15)).rejects.toThrow("engine response over 15 bytes");
    expect(stream.destroyed).toBe(true);
  });

  it("fails when the stream fails or ends before its end", async () => {
    const failing = new Readable({ read() {} });
    const reading = readAll(failing);
    failing.push(Buffer.from("{"));
    failing.destroy(new Error("socket hang up"));
    await expect(reading).rejects.toThrow("socket hang up");

    const cut = new Readable({ read() {} });
    const cutReading = readAll(cut);
    cut.push(Buffer.from("{"));
    cut.destroy();
    await expect(cutReading).rejects.toThrow(/premature close/i);
  });
});

describe("readBody", () => {
  /** A request stream with these headers, its body already in the stream. */
  const request = (headers: Record<string, string>, chunks: Buffer[]): IncomingMessage =>
    Object.assign(Readable.from(chunks), { headers }) as unknown as IncomingMessage;

  it("reads a request without Content-Length or Transfer-Encoding as empty, as HTTP/1.1 framing says", async () => {
    const req = request({}, [Buffer.from("never sent by a real client")]);
    expect((await readBody(req, 100)).length).toBe(0);
    expect((await readBody(request({ "content-length": "0" }, []), 100)).length).toBe(0);
  });

  it("reads framed bodies, and refuses them over the limit", async () => {
    expect((await readBody(request({ "content-length": "4" }, [Buffer.from("{}"), Buffer.from("  ")]), 100)).toString()).toBe("{}  ");
    expect((await readBody(request({ "transfer-encoding": "chunked" }, [Buffer.from("{}")]), 100)).toString()).toBe("{}");
    expect((await readBody(request({ "content-length": "0", "transfer-encoding": "chunked" }, [Buffer.from("{}")]), 100)).toString()).toBe("{}");
    await expect(readBody(request({ "content-length": "101" }, [Buffer.alloc(101)]), 100)).rejects.toMatchObject({ status: 413 });
    await expect(readBody(request({ "transfer-encoding": "chunked" }, [Buffer.alloc(60), Buffer.alloc(60)]), 100)).rejects.toMatchObject({ status: 413 });
  });
});
