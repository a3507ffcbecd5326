import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, checkContentType, encodeSegments, parseJson, parseJsonObject, parseTarget } from "../../tenant-proxy/src/http/request.ts";
import { refusalOf } from "../support/refusal.ts";

describe("parseTarget", () => {
  it("splits the version prefix from the decoded segments", () => {
    const target = parseTarget("/v1.41/containers/web/json?size=1");
    expect(target.version).toBe("1.41");
    expect(target.segments).toEqual(["containers", "web", "json"]);
    expect(target.query.get("size")).toBe("1");
  });

  it("accepts unversioned paths and keeps image names with slashes as segments", () => {
    const target = parseTarget("/images/library/busybox:latest/json");
    expect(target.version).toBeUndefined();
    expect(target.segments).toEqual(["images", "library", "busybox:latest", "json"]);
  });

  it.each([
    ["/v1.41/containers/..%2f..%2finfo/json", "encoded slash"],
    ["/v1.41/containers/%2e%2e/json", "dot segment"],
    ["/v1.41/containers//json", "empty or dot segment"],
    ["/v1.41/v1.40/containers/json", "more than one API version"],
    ["/v1.4x/containers/json", "malformed API version"],
    ["/containers/%zz/json", "malformed percent-encoding"],
    ["http://engine/containers/json", "unsupported request target"],
    ["/v1.41/containers/json?all=1;size=1", "not a query separator"],
    ["/v1.41/containers/json?filters=a&filters=b", 'duplicate query parameter "filters"'],
  ])("refuses %s (%s)", (url, message) => {
    const refusal = refusalOf(() => parseTarget(url));
    expect(refusal.status).toBe(400);
    expect(refusal.message).toContain(message);
  });

  it("re-encodes segments for the engine, keeping image reference characters", () => {
    expect(encodeSegments(["images", "registry:5000", "app@sha256:ab", "json"])).toBe("images/registry:5000/app@sha256:ab/json");
    expect(encodeSegments(["containers", "a b"])).toBe("containers/a%20b");
  });
});

describe("bodies", () => {
  it("refuses form-encoded bodies, which Go would merge into the query", () => {
    expect(refusalOf(() => checkContentType({ "content-type": "application/x-www-form-urlencoded" })).message).toContain("not accepted");
    expect(refusalOf(() => checkContentType({ "content-type": "multipart/form-data; boundary=x" })).status).toBe(400);
    expect(() => checkContentType({ "content-type": "application/json" })).not.toThrow();
  });

  it("parses JSON objects declared as JSON, and nothing else", () => {
    expect(parseJsonObject(Buffer.from('{"Image":"x"}'), { "content-type": "application/json; charset=utf-8" })).toEqual({ Image: "x" });
    expect(parseJsonObject(Buffer.alloc(0), {})).toBeUndefined();
    expect(refusalOf(() => parseJsonObject(Buffer.from('{"Image":"x"}'), { "content-type": "text/plain" })).message).toContain("application/json");
    expect(refusalOf(() => parseJsonObject(Buffer.from("{nope"), { "content-type": "application/json" })).message).toContain("malformed JSON");
    expect(refusalOf(() => parseJsonObject(Buffer.from("[1]"), { "content-type": "application/json" })).message).toContain("must be an object");
  });
});

describe("parseJson", () => {
  it("refuses nesting past the limit, counting only brackets outside strings", () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    expect(parseJson(nested(MAX_JSON_DEPTH))).toBeDefined();
    expect(refusalOf(() => parseJson(nested(MAX_JSON_DEPTH + 1)))).toMatchObject({ status: 400, message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` });
    expect(parseJson(JSON.stringify({ s: "[".repeat(1000), t: '\\"[{' }))).toEqual({ s: "[".repeat(1000), t: '\\"[{' });
  });
});
