/**
 * Images are shared by everyone on an engine, as on FDCS: tenants may list, inspect and pull them.
 * Changing them (build, tag, push, remove, commit, load, import) is for administrators, because a
 * tenant retagging `busybox:latest` would change what every other tenant runs — unless the operator
 * opens image changes to tenants (BERTH_TENANT_IMAGE_CHANGES), and then these handlers still keep
 * builds off the host network and commits to the tenant's own containers.
 */
import { Refusal, badRequest } from "../http/errors.ts";
import { checkLabels } from "../ownership.ts";
import { CONTAINER_CONFIG_RULES, FieldRefusal, checkFields } from "../policy/fields.ts";
import { type Handler, json, pipe } from "./types.ts";

const imageSegments = (name: string): string[] => name.split("/");

export const onImage =
  (suffix: string[]): Handler =>
  async (request) => ({
    method: request.operation.method,
    segments: ["images", ...imageSegments(request.params.name!), ...suffix],
    query: request.query,
    response: pipe,
  });

/** Pulls for everyone; imports (`fromSrc`, with a tar body) only where image changes are open. */
export const pull: Handler = async (request) => {
  if (request.query.has("fromSrc")) {
    if (!request.settings.policy.tenantImageChanges) throw new Refusal(403, "importing images is for administrators", "admin-only", "fromSrc");
    return { method: "POST", segments: ["images", "create"], query: request.query, streamBody: true, response: pipe };
  }
  if (!request.query.get("fromImage")) throw badRequest("fromImage is required");
  return { method: "POST", segments: ["images", "create"], query: request.query, response: pipe };
};

export const build: Handler = async (request) => {
  const mode = request.query.get("networkmode");
  if (mode !== null && !["", "default", "bridge", "none"].includes(mode)) {
    throw new FieldRefusal("networkmode", "builds run on the default bridge or without network");
  }
  return { method: "POST", segments: ["build"], query: request.query, streamBody: true, response: pipe };
};

/** A commit names the container by query: only the tenant's own. */
export const commit: Handler = async (request) => {
  const container = request.query.get("container");
  if (!container) throw badRequest("container is required");
  const body = checkFields((await request.readJson()) ?? {}, CONTAINER_CONFIG_RULES, "");
  checkLabels(body.Labels, "Labels");
  const query = new URLSearchParams(request.query);
  query.set("container", (await request.resolver.container(request.scope, container)).id);
  return { method: "POST", segments: ["commit"], query, body, response: pipe };
};

export const distributionInspect: Handler = async (request) => ({
  method: "GET",
  segments: ["distribution", ...imageSegments(request.params.name!), "json"],
  query: request.query,
  response: pipe,
});

/**
 * An image's `Containers` count would tell a tenant how many containers others run from it; the
 * engine leaves it uncomputed (-1) in lists today, and tenants always get it that way.
 */
export function imageSummaryView(image: Record<string, unknown>): Record<string, unknown> {
  return { ...image, Containers: -1 };
}

export const list: Handler = async (request) => ({
  method: "GET",
  segments: ["images", "json"],
  query: request.query,
  response: json((images: Record<string, unknown>[]) => images.map(imageSummaryView)),
});

/** Calls that name no object: forwarded as they are. */
export const asIs: Handler = async (request) => ({
  method: request.operation.method,
  segments: request.operation.path.split("/").slice(1),
  query: request.query,
  response: pipe,
});
