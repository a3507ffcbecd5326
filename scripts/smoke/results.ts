/**
 * What both smoke scripts report: one row per check (check, host, result, detail), printed as it
 * finishes and again as a table at the end with a summary line, so an operator sees progress on a
 * slow cluster and a readable verdict at the end. Every check runs under its own timeout: a host
 * that never answers makes one red row, never a hung script.
 */

export interface CheckRow {
  check: string;
  /** The host (or tenant) the check is about. */
  host: string;
  ok: boolean;
  detail: string;
}

export class CheckTimeout extends Error {}

/** Rejects with CheckTimeout when `work` takes longer than `ms`. */
export function withTimeout<T>(work: Promise<T>, ms: number, what = "the check"): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`${what} timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error)).trim().replace(/\s+/g, " ");

/**
 * Runs one check: `work` resolves with the detail to show when it passes and throws (with the
 * reason) when it fails. The row is printed as soon as it is known.
 */
export async function runCheck(check: string, host: string, timeoutMs: number, work: () => Promise<string>): Promise<CheckRow> {
  let row: CheckRow;
  try {
    row = { check, host, ok: true, detail: await withTimeout(work(), timeoutMs) };
  } catch (error) {
    row = { check, host, ok: false, detail: errorText(error) };
  }
  console.log(`    ${row.ok ? "ok  " : "FAIL"} ${check} (${host})${row.detail ? `: ${row.detail}` : ""}`);
  return row;
}

const MAX_DETAIL = 100;

function cell(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

/** The table: aligned columns, details cut to a readable width, FAIL in red when `color`. */
export function renderTable(rows: readonly CheckRow[], color = false): string {
  const headers = { check: "CHECK", host: "HOST", result: "RESULT", detail: "DETAIL" };
  const widths = {
    check: Math.max(headers.check.length, ...rows.map((r) => r.check.length)),
    host: Math.max(headers.host.length, ...rows.map((r) => r.host.length)),
    result: headers.result.length,
  };
  const line = (check: string, host: string, result: string, detail: string, paint = (s: string) => s) =>
    `${cell(check, widths.check)}  ${cell(host, widths.host)}  ${paint(cell(result, widths.result))}  ${cell(detail, MAX_DETAIL).trimEnd()}`.trimEnd();
  const red = (s: string) => (color ? `\u001b[31m${s}\u001b[0m` : s);
  const green = (s: string) => (color ? `\u001b[32m${s}\u001b[0m` : s);
  return [
    line(headers.check, headers.host, headers.result, headers.detail),
    ...rows.map((r) => line(r.check, r.host, r.ok ? "ok" : "FAIL", r.detail, r.ok ? green : red)),
  ].join("\n");
}

export function summaryLine(rows: readonly CheckRow[]): string {
  const failed = rows.filter((r) => !r.ok);
  if (rows.length === 0) return "no checks ran: FAILED";
  if (failed.length === 0) return `${rows.length} checks, all passed`;
  return `${rows.length} checks, ${failed.length} failed: ${[...new Set(failed.map((r) => r.check))].join(", ")}`;
}

/** Prints the table and summary; the process exit code the run deserves (no rows is a failure). */
export function report(title: string, rows: readonly CheckRow[]): number {
  console.log(`\n${title}\n`);
  console.log(renderTable(rows, process.stdout.isTTY === true));
  console.log(`\n${summaryLine(rows)}`);
  return rows.length > 0 && rows.every((r) => r.ok) ? 0 : 1;
}
