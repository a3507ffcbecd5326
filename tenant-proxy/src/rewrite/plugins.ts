/**
 * Plugins are the operators' business, so tenants see none: the list is empty and an inspect is a
 * 404, exactly what an engine without plugins answers. That keeps `docker inspect <name>`, which
 * tries plugins last, answering "No such object" instead of a refusal. Administrators reach a node.
 */
import { anyNode } from "./fan-out.ts";
import { type Handler, pipe } from "./types.ts";

const forAdministrators: Handler = async (request) => ({
  node: anyNode(request),
  method: "GET",
  segments: request.operation.path
    .split("/")
    .slice(1)
    .map((segment) => (segment === "{name}" ? request.params.name! : segment)),
  query: request.query,
  response: pipe,
});

export const list: Handler = async (request) => (request.scope.unrestricted ? forAdministrators(request) : { reply: { status: 200, body: [] } });

export const inspect: Handler = async (request) =>
  request.scope.unrestricted ? forAdministrators(request) : { reply: { status: 404, body: { message: `plugin "${request.params.name}" not found` } } };
