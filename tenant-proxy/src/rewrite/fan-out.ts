/**
 * Asking every node at once: lists and prunes fan out to all healthy nodes in parallel (each within
 * the fan-out timeout) and their answers are merged. When a node is down the answer still comes,
 * with the names of the missing nodes in an `X-Berth-Unavailable-Nodes` header (volume lists also
 * say it in their Warnings, container lists show the node's containers as "Host Down"). A node
 * that is up but too slow with the call fails the call (see Cluster.everywhere).
 */
import { Refusal } from "../http/errors.ts";
import type { ClusterNode } from "../upstream/cluster.ts";
import type { TenantRequest } from "./types.ts";
import { passEngineError } from "../upstream/engine.ts";

export const UNAVAILABLE_HEADER = "X-Berth-Unavailable-Nodes";

export const noEngine = (): Refusal => new Refusal(503, "no engine is available", "engine-unavailable");

/** A node for calls about no particular object (overlay networks, shared images, version). */
export function anyNode(request: TenantRequest): ClusterNode {
  const node = request.cluster.any();
  if (!node) throw noEngine();
  return node;
}

export interface Merged {
  /** Each node's items (an answer that is a list is spread, any other answer is one item). */
  items: { node: ClusterNode; item: any }[];
  missing: string[];
  headers: Record<string, string>;
}

/**
 * `path` may differ per node (a filter only one node can apply, for one). With `absentIsNone`, a
 * node that answers 404 has nothing to add (a swarm overlay is known only where it is used).
 */
export async function everywhereJson(
  request: TenantRequest,
  path: string | ((node: ClusterNode) => string),
  method = "GET",
  absentIsNone = false,
): Promise<Merged> {
  if (request.cluster.healthy().length === 0) throw noEngine();
  const { answers, missing, errors } = await request.cluster.everywhere(async (node) => {
    const answer = await node.engine.json(method, typeof path === "string" ? path : path(node));
    if (absentIsNone && answer.status === 404) return [];
    if (answer.status >= 300) throw passEngineError(answer);
    return answer.body;
  });
  if (errors.length > 0) throw errors[0]!.error;
  if (answers.length === 0) throw noEngine();
  return {
    items: answers.flatMap(({ node, value }) => (Array.isArray(value) ? value.map((item) => ({ node, item })) : [{ node, item: value }])),
    missing,
    headers: missing.length > 0 ? { [UNAVAILABLE_HEADER]: missing.join(",") } : {},
  };
}
