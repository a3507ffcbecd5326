/**
 * What each node holds, read from the engines when a decision needs it (the proxy keeps no state of
 * its own): containers with their memory reservations, used host ports, images, and which of them
 * are the tenant's. Container sizes are cached by id because only an update changes them and
 * updates come through the proxy, which forgets the size it changes.
 */
import { LRUCache } from "lru-cache";
import type { Scope } from "../ownership.ts";
import { publishedPortCount } from "../policy/ports.ts";
import { type Cluster, type ClusterNode, isUnavailable } from "./cluster.ts";
import type { NodeState } from "./scheduler.ts";
import { ENGINE_API, passEngineError } from "./engine.ts";

export interface Size {
  memory: number;
  nanoCpus: number;
  /** Host ports it publishes when running (its bindings and, with -P, its exposed ports). */
  publishedPorts: number;
}

interface ContainerSummary {
  Id: string;
  Names: string[];
  Labels: Record<string, string> | null;
  Ports: { PublicPort?: number; Type: string }[] | null;
}

export class Sizes {
  private readonly cache = new LRUCache<string, Size>({ max: 100_000 });

  async of(node: ClusterNode, id: string): Promise<Size> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const inspected = await node.engine.json("GET", `${ENGINE_API}/containers/${id}/json`);
    // A container removed meanwhile holds nothing.
    if (inspected.status === 404) return { memory: 0, nanoCpus: 0, publishedPorts: 0 };
    if (inspected.status !== 200) throw passEngineError(inspected);
    const host = inspected.body.HostConfig ?? {};
    const size = {
      memory: Number(host.Memory ?? 0),
      nanoCpus: Number(host.NanoCpus ?? 0),
      // The engine's Config.ExposedPorts already includes the image's.
      publishedPorts: publishedPortCount(host, inspected.body.Config?.ExposedPorts, undefined),
    };
    this.cache.set(id, size);
    return size;
  }

  forget(id: string): void {
    this.cache.delete(id);
  }
}

/** The scheduler's view of every healthy node (down nodes are left out, so never chosen). */
export async function nodeStates(cluster: Cluster, sizes: Sizes, scope: Scope): Promise<NodeState[]> {
  const { answers, errors } = await cluster.everywhere(async (node) => {
    const [containers, images] = await Promise.all([
      node.engine.json("GET", `${ENGINE_API}/containers/json?all=1`),
      node.engine.json("GET", `${ENGINE_API}/images/json`),
    ]);
    if (containers.status !== 200) throw passEngineError(containers);
    if (images.status !== 200) throw passEngineError(images);
    const list = containers.body as ContainerSummary[];
    const reserved = await Promise.all(list.map((c) => sizes.of(node, c.Id)));
    const tenantContainers = list
      .filter((c) => scope.owns(c.Labels))
      .flatMap((c) => [c.Id, ...c.Names.map((name) => scope.visibleName(name.replace(/^\//, "")))]);
    const state: NodeState = {
      name: node.name,
      healthy: true,
      labels: { ...node.labels, node: node.name },
      memoryTotal: node.memoryTotal,
      memoryReserved: reserved.reduce((sum, size) => sum + size.memory, 0),
      containers: list.length,
      usedPorts: new Set(list.flatMap((c) => (c.Ports ?? []).filter((p) => p.PublicPort).map((p) => `${p.PublicPort}/${p.Type}`))),
      images: new Set((images.body as { Id: string; RepoTags: string[] | null }[]).flatMap((image) => [image.Id, ...(image.RepoTags ?? [])])),
      tenantContainers: new Set(tenantContainers),
    };
    return state;
  });
  // A node that is up but too slow for this call is no candidate this time; a refusal fails the create.
  const refused = errors.find((failed) => !isUnavailable(failed.error));
  if (refused) throw refused.error;
  if (answers.length === 0 && errors.length > 0) throw errors[0]!.error;
  return answers.map((answer) => answer.value);
}
