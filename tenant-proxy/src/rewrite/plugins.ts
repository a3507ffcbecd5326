/**
 * Plugins are the operators' business, so tenants see none: the list is empty and an inspect is a
 * 404, exactly what an engine without plugins answers. That keeps `docker inspect <name>`, which
 * tries plugins last, answering "No such object" instead of a refusal.
 */
import type { Handler } from "./types.ts";

export const list: Handler = async () => ({ reply: { status: 200, body: [] } });

export const inspect: Handler = async (request) => ({
  reply: { status: 404, body: { message: `plugin "${request.params.name}" not found` } },
});
