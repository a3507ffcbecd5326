/**
 * Images are shared by everyone on an engine, as on FDCS: tenants may list, inspect and pull them.
 * Changing them (build, tag, push, remove, commit, load, import) is for administrators, because a
 * tenant retagging `busybox:latest` would change what every other tenant runs.
 */
import { Refusal, badRequest } from "../http/errors.ts";
import { type Handler, pipe } from "./types.ts";

const imageSegments = (name: string): string[] => name.split("/");

export const onImage =
  (suffix: string[]): Handler =>
  async (request) => ({
    method: request.operation.method,
    segments: ["images", ...imageSegments(request.params.name!), ...suffix],
    query: request.query,
    response: pipe,
  });

export const pull: Handler = async (request) => {
  if (request.query.has("fromSrc")) {
    throw new Refusal(403, "importing images is for administrators", "admin-only", "fromSrc");
  }
  if (!request.query.get("fromImage")) throw badRequest("fromImage is required");
  return { method: "POST", segments: ["images", "create"], query: request.query, response: pipe };
};

export const distributionInspect: Handler = async (request) => ({
  method: "GET",
  segments: ["distribution", ...imageSegments(request.params.name!), "json"],
  query: request.query,
  response: pipe,
});

/** Calls that name no object: forwarded as they are. */
export const asIs: Handler = async (request) => ({
  method: request.operation.method,
  segments: request.operation.path.split("/").slice(1),
  query: request.query,
  response: pipe,
});
