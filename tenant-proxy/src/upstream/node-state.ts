/**
 * What each node holds, kept in memory so that placing a create and checking a quota cost no engine
 * calls: every container's memory and CPU reservation, the host ports it publishes, its names and
 * owner, and the node's images. Each node's state is rebuilt from the engine (a full list at once;
 * an inspect for each container not sized yet, in the background or when a quota or a placement by
 * memory needs it) when the proxy starts, and again every resync interval; in between, the
 * engine's event stream keeps it current. The stream is opened
 * before the list is read and its events are applied after it, one at a time per container, so nothing falls in
 * between; when the stream drops, the node counts as unsynced until it is open again and a resync
 * has run. Callers wait for the healthy nodes to be synced (`whenReady`) instead of guessing.
 *
 * The ledger: changes on their way to an engine (creates, updates that grow) hold a reservation,
 * taken synchronously together with the quota check, so no two changes can both pass a check only
 * one of them fits. A reservation is committed into the node's state on the engine's answer, or
 * released on its refusal; when the engine did not answer (it went away mid-create) the
 * reservation stays until a resync of that node, started after, says what is there.
 */
import type { IncomingMessage } from "node:http";
import { Refusal } from "../http/errors.ts";
import { OWNER_LABEL, type Scope } from "../ownership.ts";
import { publishedPortCount } from "../policy/ports.ts";
import type { Usage } from "../policy/quota.ts";
import type { Cluster, ClusterNode } from "./cluster.ts";
import type { JsonAnswer } from "./engine.ts";
import type { NodeState } from "./scheduler.ts";
import { ENGINE_API, passEngineError } from "./engine.ts";

export interface Size {
  memory: number;
  nanoCpus: number;
  /** Host ports it publishes when running (its bindings and, with -P, its exposed ports). */
  publishedPorts: number;
}

/** One container as the state knows it. */
interface ContainerRecord extends Size {
  /** Engine names, without the leading slash. */
  names: string[];
  /** The tenant label's value, if any. */
  owner?: string;
  /** Host ports in use while it runs, as "port/proto". */
  hostPorts: string[];
  /** When it was last confirmed (read from the engine, or committed on a create's answer). */
  confirmedAt: number;
  /**
   * Whether its size is known: a container seen only in a list (at start, or made behind the
   * proxy's back) is sized by an inspect in the background, or at once when a quota needs it.
   */
  sized: boolean;
}

/** A change on its way to an engine, counted until the engine's answer settles it. */
export interface Reservation extends Usage {
  tenant?: string;
  node: string;
  publishedPorts: number;
  /** Fixed host ports it takes on the node. */
  hostPorts: string[];
  /** The engine name it will have, kept unique across the nodes meanwhile. */
  engineName?: string;
  /** Set when the engine did not answer: the reservation lasts until a resync started after this. */
  unansweredAt?: number;
}

interface NodeRecord {
  node: ClusterNode;
  containers: Map<string, ContainerRecord>;
  images: Set<string>;
  /** Whether the state follows the engine now (stream open, resynced since it opened). */
  synced: boolean;
  /** The stream and resync being brought up, which callers wait for. */
  syncing?: Promise<void>;
  /** The inspects of the containers listed but not sized yet, in the background. */
  sizing?: Promise<void>;
  stream?: IncomingMessage;
  /** Resyncs and image events, applied one at a time in arrival order. */
  queue: Promise<void>;
  /**
   * Each container's events, applied one at a time in arrival order after the resyncs that came
   * before them; containers apart, because a tenant can hold its container's lock on the engine
   * (a `docker cp` out of it left unread) and with it the inspect its event needs.
   */
  containerQueues: Map<string, Promise<void>>;
  imagesDirty: boolean;
  /** Image inspects by path, kept while the stream is open: any image event on the node clears them. */
  imageInspects: Map<string, Promise<JsonAnswer>>;
  /** Tenants' bridges found or made, by engine name, kept while the stream is open: their destroy event clears them. */
  tenantBridges: Map<string, Promise<unknown>>;
}

export interface StateOptions {
  resyncIntervalMs: number;
  /** How long a create waits for a node to be read before going on without it (the fan-out timeout). */
  readyTimeoutMs: number;
}

const CONTAINER_EVENTS = ["create", "destroy", "rename", "update", "start", "die"];
const IMAGE_EVENTS = ["pull", "tag", "untag", "delete", "import", "load"];
/** Network events come for the tenant bridges kept; "destroy" is among the container events already. */
const EVENT_FILTERS = encodeURIComponent(JSON.stringify({ type: ["container", "image", "network"], event: [...CONTAINER_EVENTS, ...IMAGE_EVENTS] }));

interface ListedContainer {
  Id: string;
  Names: string[];
  Labels: Record<string, string> | null;
  Ports: { PublicPort?: number; Type: string }[] | null;
}

const ZERO: Size = { memory: 0, nanoCpus: 0, publishedPorts: 0 };
/** Inspects in flight per node while sizing in the background, so tenants' calls keep their share. */
const SIZING_CONCURRENCY = 2;
/** Image inspects kept per node (a tenant's creates use a handful of images). */
const IMAGE_INSPECTS_KEPT = 256;
/**
 * The largest image inspect kept, as JSON characters: an image's config is whatever its pusher
 * wrote, and every spelling of its name (each id prefix) is a path of its own.
 */
const IMAGE_INSPECT_KEPT_MAX_CHARS = 16 * 1024;

export class ClusterState {
  private readonly records: Map<string, NodeRecord>;
  private readonly reservations = new Set<Reservation>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** A clock that only moves forward, for ordering reads against reservations and commits. */
  private tick = 0;

  constructor(
    cluster: Cluster,
    private readonly options: StateOptions,
  ) {
    this.records = new Map(
      cluster.nodes.map((node) => [
        node.name,
        {
          node,
          containers: new Map(),
          images: new Set(),
          synced: false,
          queue: Promise.resolve(),
          containerQueues: new Map(),
          imagesDirty: false,
          imageInspects: new Map(),
          tenantBridges: new Map(),
        },
      ]),
    );
  }

  /** Starts reading every node in the background, and resyncing every interval. */
  start(): void {
    for (const record of this.records.values()) void this.sync(record).catch(() => undefined);
    this.timer = setInterval(() => {
      for (const record of this.records.values()) {
        if (record.synced) void this.enqueue(record, () => this.resync(record)).catch(() => this.unsync(record));
        else if (record.node.healthy) void this.sync(record).catch(() => undefined);
      }
    }, this.options.resyncIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const record of this.records.values()) record.stream?.destroy();
  }

  /**
   * Waits until every healthy node's state follows its engine (its containers listed, perhaps not
   * all sized yet), bringing up any that does not. A node that cannot be read stays unsynced: it
   * takes no new containers, and what it held when last read still counts against quotas.
   */
  async whenReady(): Promise<void> {
    const unsynced = [...this.records.values()].filter((record) => record.node.healthy && !record.synced);
    if (unsynced.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.readyTimeoutMs)));
    await Promise.race([Promise.all(unsynced.map((record) => this.sync(record).catch(() => undefined))), givenUp]);
    clearTimeout(timer);
  }

  /**
   * Waits until every container on the healthy nodes is sized, what placing by memory needs; a node
   * not sized within the ready timeout is left out of that placement (see `schedulerView`).
   */
  async whenSized(): Promise<void> {
    await this.whenReady();
    const sizing = [...this.records.values()].filter((record) => record.node.healthy && !isSized(record)).map((record) => this.sizingOf(record));
    if (sizing.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.readyTimeoutMs)));
    await Promise.race([Promise.all(sizing), givenUp]);
    clearTimeout(timer);
  }

  /**
   * Sizes a tenant's containers not sized yet on the healthy nodes, what its quota needs (a down
   * node's count with what was read of them). Refuses, rather than guess, when one is still not
   * sized within the ready timeout.
   */
  async sizeTenant(tenant: string): Promise<void> {
    const unsized = () =>
      [...this.records.values()]
        .filter((record) => record.node.healthy)
        .flatMap((record) => [...record.containers.entries()].filter(([, c]) => c.owner === tenant && !c.sized).map(([id]) => ({ record, id })));
    const sizing = unsized().map(({ record, id }) => this.size(record, id).catch(() => undefined));
    if (sizing.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.readyTimeoutMs)));
    await Promise.race([Promise.all(sizing), givenUp]);
    clearTimeout(timer);
    const left = unsized();
    if (left.length > 0) {
      throw new Refusal(
        503,
        `the quota cannot be checked now: the sizes of ${left.length} of the tenant's containers on ${left[0]!.record.node.name} could not be read; try again`,
        "engine-unavailable",
      );
    }
  }

  /** The node's background sizing: the one under way, or a new one (one a node at a time); never rejects. */
  private sizingOf(record: NodeRecord): Promise<void> {
    if (!record.sizing) {
      record.sizing = this.sizeNode(record)
        .catch(() => undefined)
        .finally(() => {
          record.sizing = undefined;
        });
    }
    return record.sizing;
  }

  private async sizeNode(record: NodeRecord): Promise<void> {
    const unsized = [...record.containers.entries()].filter(([, container]) => !container.sized).map(([id]) => id);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(SIZING_CONCURRENCY, unsized.length) }, async () => {
        while (next < unsized.length) await this.size(record, unsized[next++]!);
      }),
    );
  }

  /** Reads a container's size, unless an event or a commit has meanwhile. */
  private async size(record: NodeRecord, id: string): Promise<void> {
    if (record.containers.get(id)?.sized !== false) return;
    const read = await this.inspect(record.node, id);
    if (record.containers.get(id)?.sized !== false) return;
    if (read) record.containers.set(id, read);
    else record.containers.delete(id);
  }

  /** Opens the node's event stream, then resyncs; concurrent callers share one attempt. */
  private sync(record: NodeRecord): Promise<void> {
    record.syncing ??= (async () => {
      if (!record.stream) await this.openStream(record);
      await this.enqueue(record, () => this.resync(record));
      record.synced = record.stream !== undefined;
    })().finally(() => {
      record.syncing = undefined;
    });
    return record.syncing;
  }

  private unsync(record: NodeRecord): void {
    record.synced = false;
    record.imageInspects.clear();
    record.tenantBridges.clear();
    record.stream?.destroy();
    record.stream = undefined;
  }

  private enqueue(record: NodeRecord, work: () => Promise<void>): Promise<void> {
    const next = record.queue.catch(() => undefined).then(work);
    record.queue = next.catch(() => undefined);
    return next;
  }

  /** Runs a container's event after the node's work queued so far and the container's earlier events. */
  private enqueueFor(record: NodeRecord, id: string, work: () => Promise<void>): Promise<void> {
    const earlier = record.containerQueues.get(id) ?? Promise.resolve();
    const next = Promise.all([record.queue, earlier.catch(() => undefined)]).then(work);
    const settled = next.catch(() => undefined);
    record.containerQueues.set(id, settled);
    void settled.then(() => record.containerQueues.get(id) === settled && record.containerQueues.delete(id));
    return next;
  }

  private async openStream(record: NodeRecord): Promise<void> {
    const response = await record.node.engine.request({
      method: "GET",
      path: `${ENGINE_API}/events?filters=${EVENT_FILTERS}`,
      timeoutMs: this.options.readyTimeoutMs,
    });
    if (response.statusCode !== 200) {
      response.resume();
      throw new Error(`the event stream of ${record.node.name} answered ${response.statusCode}`);
    }
    record.stream = response;
    let pending = "";
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) if (line.trim() !== "") this.onEvent(record, line);
    });
    const dropped = () => {
      if (record.stream !== response) return;
      this.unsync(record);
      // Brought back at the next create, or by the interval; sooner when the node is still up.
      if (!this.stopped) setTimeout(() => record.node.healthy && !record.synced && void this.sync(record).catch(() => undefined), 1_000).unref();
    };
    response.on("end", dropped);
    response.on("error", dropped);
    response.on("aborted", dropped);
  }

  private onEvent(record: NodeRecord, line: string): void {
    let event: { Type?: string; Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
    try {
      event = JSON.parse(line);
    } catch {
      // An event the state cannot read may have changed anything: read the node again.
      void this.enqueue(record, () => this.resync(record)).catch(() => this.unsync(record));
      return;
    }
    const id = event.Actor?.ID;
    if (event.Type === "image") {
      record.imageInspects.clear();
      if (record.imagesDirty) return;
      record.imagesDirty = true;
      void this.enqueue(record, () => this.readImages(record)).catch(() => this.unsync(record));
    } else if (event.Type === "network") {
      // The filter's event names are shared by all types, so networks' creates come too: only a destroy matters.
      if (event.Action === "destroy") record.tenantBridges.delete(event.Actor?.Attributes?.name ?? "");
    } else if (event.Type === "container" && id) {
      // A create of the proxy's own, still on its way: the engine's answer commits it.
      const name = event.Actor?.Attributes?.name;
      if (event.Action === "create" && name !== undefined && this.reservedName(name)) return;
      void this.enqueueFor(record, id, () => this.onContainerEvent(record, id, event.Action ?? "")).catch(() => this.unsync(record));
    }
  }

  private async onContainerEvent(record: NodeRecord, id: string, action: string): Promise<void> {
    if (action === "destroy") {
      record.containers.delete(id);
      return;
    }
    // The proxy's own creates are committed on the engine's answer already (an administrator's
    // without the name the engine gave it, which the inspect reads).
    if (action === "create" && (record.containers.get(id)?.names.length ?? 0) > 0) return;
    const read = await this.inspect(record.node, id);
    if (read) record.containers.set(id, read);
    else record.containers.delete(id);
  }

  private async readImages(record: NodeRecord): Promise<void> {
    record.imagesDirty = false;
    const images = await record.node.engine.json("GET", `${ENGINE_API}/images/json`);
    if (images.status !== 200) throw passEngineError(images);
    record.images = new Set((images.body as { Id: string; RepoTags: string[] | null }[]).flatMap((image) => [image.Id, ...(image.RepoTags ?? [])]));
  }

  /**
   * The whole node read again: containers not listed (and not committed meanwhile) are gone, new
   * ones are known at once and sized in the background.
   */
  private async resync(record: NodeRecord): Promise<void> {
    const startedAt = ++this.tick;
    const [listed] = await Promise.all([record.node.engine.json("GET", `${ENGINE_API}/containers/json?all=1`), this.readImages(record)]);
    if (listed.status !== 200) throw passEngineError(listed);
    const fresh = new Map<string, ContainerRecord>();
    for (const container of listed.body as ListedContainer[]) {
      const known = record.containers.get(container.Id);
      fresh.set(container.Id, { ...(known ?? { ...ZERO, sized: false }), ...fromList(container), confirmedAt: startedAt });
    }
    for (const [id, container] of record.containers) if (!fresh.has(id) && container.confirmedAt > startedAt) fresh.set(id, container);
    record.containers = fresh;
    void this.sizingOf(record);
    for (const reservation of this.reservations) {
      if (reservation.node === record.node.name && reservation.unansweredAt !== undefined && reservation.unansweredAt < startedAt)
        this.reservations.delete(reservation);
    }
  }

  /** A container read from its engine, or undefined when it is gone. */
  private async inspect(node: ClusterNode, id: string): Promise<ContainerRecord | undefined> {
    const inspected = await node.engine.json("GET", `${ENGINE_API}/containers/${id}/json`);
    if (inspected.status === 404) return undefined;
    if (inspected.status !== 200) throw passEngineError(inspected);
    const body = inspected.body;
    const host = body.HostConfig ?? {};
    const ports = (body.NetworkSettings?.Ports ?? {}) as Record<string, { HostPort?: string }[] | null>;
    return {
      memory: Number(host.Memory ?? 0),
      nanoCpus: Number(host.NanoCpus ?? 0),
      // The engine's Config.ExposedPorts already includes the image's.
      publishedPorts: publishedPortCount(host, body.Config?.ExposedPorts, undefined),
      names: [String(body.Name ?? "").replace(/^\//, "")],
      owner: body.Config?.Labels?.[OWNER_LABEL],
      hostPorts: Object.entries(ports).flatMap(([port, bindings]) =>
        (bindings ?? []).filter((b) => b.HostPort).map((b) => `${b.HostPort}/${port.split("/")[1] ?? "tcp"}`),
      ),
      confirmedAt: ++this.tick,
      sized: true,
    };
  }

  /**
   * The scheduler's view of every healthy, synced node, counting what is reserved on each; with
   * `bySize`, only of the nodes whose every container is sized.
   */
  schedulerView(scope: Scope, bySize: boolean): NodeState[] {
    return [...this.records.values()]
      .filter((record) => record.node.healthy && record.synced && (!bySize || isSized(record)))
      .map((record) => {
        const reserved = [...this.reservations].filter((r) => r.node === record.node.name);
        const containers = [...record.containers.entries()];
        const owned = containers.filter(([, c]) => ownedBy(scope, c));
        return {
          name: record.node.name,
          healthy: true,
          labels: { ...record.node.labels, node: record.node.name },
          memoryTotal: record.node.memoryTotal,
          memoryReserved: sum(containers.map(([, c]) => c.memory)) + sum(reserved.map((r) => r.memory)),
          containers: containers.length + sum(reserved.map((r) => r.containers)),
          usedPorts: new Set([...containers.flatMap(([, c]) => c.hostPorts), ...reserved.flatMap((r) => r.hostPorts)]),
          images: record.images,
          tenantContainers: new Set(owned.flatMap(([id, c]) => [id, ...c.names.map((name) => scope.visibleName(name))])),
        };
      });
  }

  /** What a tenant holds on every node (a down node with what it held when last read), reservations included. */
  usage(tenant: string): Usage & { publishedPorts: number } {
    const total = { memory: 0, nanoCpus: 0, containers: 0, publishedPorts: 0 };
    const add = (held: Size, containers: number) => {
      total.memory += held.memory;
      total.nanoCpus += held.nanoCpus;
      total.publishedPorts += held.publishedPorts;
      total.containers += containers;
    };
    for (const record of this.records.values()) for (const container of record.containers.values()) if (container.owner === tenant) add(container, 1);
    for (const reservation of this.reservations) if (reservation.tenant === tenant) add(reservation, reservation.containers);
    return total;
  }

  private reservedName(engineName: string): boolean {
    for (const reservation of this.reservations) if (reservation.engineName === engineName && reservation.unansweredAt === undefined) return true;
    return false;
  }

  /** Whether an engine name is in use on any node, or reserved by a create on its way. */
  nameTaken(engineName: string): boolean {
    for (const reservation of this.reservations) if (reservation.engineName === engineName) return true;
    for (const record of this.records.values()) for (const container of record.containers.values()) if (container.names.includes(engineName)) return true;
    return false;
  }

  /**
   * An image's inspect on a node (`read`), kept until an image event on the node says anything
   * changed there; only while the node's stream is open, and only a found image whose answer (of
   * which callers pass only what they read) is small.
   */
  async imageInspect(node: ClusterNode, path: string, read: () => Promise<JsonAnswer>): Promise<JsonAnswer> {
    const record = this.records.get(node.name);
    if (!record?.synced) return read();
    let answer = record.imageInspects.get(path);
    if (!answer) {
      if (record.imageInspects.size >= IMAGE_INSPECTS_KEPT) record.imageInspects.clear();
      answer = read();
      record.imageInspects.set(path, answer);
      void answer.then(
        (found) =>
          (found.status !== 200 || JSON.stringify(found.body).length > IMAGE_INSPECT_KEPT_MAX_CHARS) &&
          record.imageInspects.get(path) === answer &&
          record.imageInspects.delete(path),
        () => record.imageInspects.get(path) === answer && record.imageInspects.delete(path),
      );
    }
    return answer;
  }

  /**
   * A tenant's bridge on `node`, found or made by `ensure` once while the node's event stream is
   * open, so a create does not inspect it every time; its destroy event (an operator's prune) or a
   * dropped stream makes the next create look again. A failed attempt is not kept. `ensure` is told
   * whether its answer will be kept: a kept one must be a lookup of its own, begun now, never one
   * already under way, which may have seen the bridge before a destroy the state has taken in.
   */
  tenantBridge<T>(node: ClusterNode, engineName: string, ensure: (kept: boolean) => Promise<T>): Promise<T> {
    const record = this.records.get(node.name);
    if (!record?.synced) return ensure(false);
    const kept = record.tenantBridges.get(engineName) as Promise<T> | undefined;
    if (kept) return kept;
    const attempt = ensure(true);
    record.tenantBridges.set(engineName, attempt);
    attempt.catch(() => record.tenantBridges.get(engineName) === attempt && record.tenantBridges.delete(engineName));
    return attempt;
  }

  /** Forgets a kept bridge the proxy is removing, so a create right after does not wait on the destroy event. */
  forgetTenantBridge(node: ClusterNode, engineName: string): void {
    this.records.get(node.name)?.tenantBridges.delete(engineName);
  }

  /** A container's size: as known, or read from its engine (and then known). */
  async sizeOf(node: ClusterNode, id: string): Promise<Size> {
    const record = this.records.get(node.name);
    const known = record?.containers.get(id);
    if (known?.sized) return known;
    const read = await this.inspect(node, id);
    if (read) record?.containers.set(id, read);
    return read ?? ZERO;
  }

  /** Sets a container's name after a rename the engine accepted, before its event is read. */
  renamed(node: ClusterNode, id: string, engineName: string): void {
    const known = this.records.get(node.name)?.containers.get(id);
    if (known) known.names = [engineName];
  }

  /**
   * Sets a container's size after an update the engine accepted; after one it did not answer, the
   * larger of both sizes, which bounds it until an event reads it again (not read at once: the
   * engine may be holding the container's lock, as long as a tenant keeps a `docker cp` unread).
   */
  resized(node: ClusterNode, id: string, size: Pick<Size, "memory" | "nanoCpus">, certain: boolean): void {
    const known = this.records.get(node.name)?.containers.get(id);
    if (!known) return;
    known.memory = certain ? size.memory : Math.max(known.memory, size.memory);
    known.nanoCpus = certain ? size.nanoCpus : Math.max(known.nanoCpus, size.nanoCpus);
  }

  reserve(reservation: Reservation): Reservation {
    this.reservations.add(reservation);
    return reservation;
  }

  release(reservation: Reservation): void {
    this.reservations.delete(reservation);
  }

  /** The engine did not answer: the reservation holds until a later resync of its node. */
  unanswered(reservation: Reservation): void {
    reservation.unansweredAt = ++this.tick;
    const record = this.records.get(reservation.node);
    if (record) this.unsync(record);
  }

  /** The engine created the container: it is held by the node's state from now on. */
  commit(reservation: Reservation, id: string, engineName: string | undefined): void {
    this.reservations.delete(reservation);
    this.records.get(reservation.node)?.containers.set(id, {
      memory: reservation.memory,
      nanoCpus: reservation.nanoCpus,
      publishedPorts: reservation.publishedPorts,
      names: engineName === undefined ? [] : [engineName],
      owner: reservation.tenant,
      // Host ports are taken at start, which the start event reports.
      hostPorts: [],
      confirmedAt: ++this.tick,
      sized: true,
    });
  }
}

const isSized = (record: NodeRecord): boolean => {
  for (const container of record.containers.values()) if (!container.sized) return false;
  return true;
};

function fromList(container: ListedContainer): Pick<ContainerRecord, "names" | "owner" | "hostPorts"> {
  return {
    names: container.Names.map((name) => name.replace(/^\//, "")),
    owner: container.Labels?.[OWNER_LABEL],
    hostPorts: (container.Ports ?? []).filter((p) => p.PublicPort).map((p) => `${p.PublicPort}/${p.Type}`),
  };
}

const ownedBy = (scope: Scope, container: ContainerRecord): boolean => scope.tenant === undefined || container.owner === scope.tenant;

const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
