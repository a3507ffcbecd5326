/**
 * The audit log: one JSON line per refusal, on standard output, with who asked (tenant, user), what
 * (operation, object) and why (reason, status, message). Operators grep it or ship it; the proxy
 * never writes tokens into it. Start-up and unexpected errors go to standard error as JSON too, so
 * one journal holds both in a form machines read.
 */
import type { Refusal } from "./http/errors.ts";

export interface RefusalRecord {
  tenant?: string;
  user?: string;
  operation?: string;
  method: string;
  path: string;
  refusal: Refusal;
}

export interface AuditLog {
  refusal(record: RefusalRecord): void;
  error(message: string, details?: Record<string, unknown>): void;
  info(message: string, details?: Record<string, unknown>): void;
}

export function jsonLinesAudit(out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): AuditLog {
  const line = (stream: NodeJS.WritableStream, fields: Record<string, unknown>) =>
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
  return {
    refusal: ({ tenant, user, operation, method, path, refusal }) =>
      line(out, {
        event: "refused",
        tenant,
        user,
        operation,
        method,
        path: path.split("?")[0],
        object: refusal.object,
        reason: refusal.reason,
        status: refusal.status,
        message: refusal.message,
      }),
    error: (message, details) => line(err, { level: "error", message, ...details }),
    info: (message, details) => line(err, { level: "info", message, ...details }),
  };
}
