/**
 * Every refusal the proxy makes is a `Refusal`: an HTTP status, the message the docker client
 * prints after "Error response from daemon:", and a short machine reason for the audit log. The
 * pipeline turns any Refusal into a Docker-style JSON error (`{"message": ...}`), so a step that
 * refuses only throws; anything else thrown is a bug and becomes a 500 that names no internals.
 */

export type RefusalReason =
  | "bad-request"
  | "unauthenticated"
  | "forbidden"
  | "not-found"
  | "admin-only"
  | "refused-operation"
  | "disabled-operation"
  | "unknown-operation"
  | "host-restriction"
  | "reserved-label"
  | "body-too-large"
  | "identity-unavailable"
  | "engine-unavailable"
  | "quota"
  | "too-many-calls"
  | "conflict"
  | "engine-error";

export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: RefusalReason,
    /** The object the refusal is about (a reference, a field), for the audit line. */
    readonly object?: string,
  ) {
    super(message);
    this.name = "Refusal";
  }
}

export const badRequest = (message: string, object?: string): Refusal => new Refusal(400, message, "bad-request", object);

/** A tenant's reference that is not its own answers exactly like one to nothing at all. */
export const noSuch = (kind: "container" | "network" | "volume" | "exec instance", ref: string): Refusal =>
  new Refusal(404, noSuchMessage(kind, ref), "not-found", ref);

export function noSuchMessage(kind: "container" | "network" | "volume" | "exec instance", ref: string): string {
  switch (kind) {
    case "container":
      return `No such container: ${ref}`;
    case "network":
      return `network ${ref} not found`;
    case "volume":
      return `get ${ref}: no such volume`;
    case "exec instance":
      return `No such exec instance: ${ref}`;
  }
}

export const forbidden = (message: string, reason: RefusalReason = "forbidden", object?: string): Refusal => new Refusal(403, message, reason, object);
