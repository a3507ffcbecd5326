/**
 * How berth's scripts talk to the operator: a `==> ` line as each step starts, and plain tables
 * with aligned columns (two spaces apart, no trailing blanks) for their summaries.
 */

/** A progress line, printed as the step starts. */
export function step(message: string): void {
  console.log(`==> ${message}`);
}

/** Rows (the first is the header) as aligned text; `rule` adds a line of dashes under the header. */
export function table(rows: string[][], options: { rule?: boolean } = {}): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  const [header, ...body] = rows;
  return [line(header!), ...(options.rule ? [line(widths.map((width) => "-".repeat(width)))] : []), ...body.map(line)].join("\n");
}
