/**
 * Reads an environment file the way systemd's EnvironmentFile= does (the subset berth writes:
 * comments, KEY=value, double- or single-quoted values), and expands an unquoted `$VAR` in an
 * ExecStart= line the way systemd does: split at whitespace, quotes inside the value not honoured.
 * The preview's check of the proxy's settings reads the rendered proxy.env with it, and the tests
 * read the other rendered environment files.
 */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`line ${index + 1} is not KEY=value: ${raw}`);
    const value = match[2]!.trim();
    const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value);
    if (quoted && /^"/.test(value) && /(^|[^\\])"/.test(quoted[1]!)) throw new Error(`line ${index + 1} has an unescaped quote inside its value`);
    variables[match[1]!] = quoted ? quoted[1]!.replace(/\\(["\\])/g, "$1") : value;
  });
  return variables;
}

/** The words an unquoted $VAR becomes in ExecStart=. */
export function execStartWords(value: string): string[] {
  if (/["'\\]/.test(value)) throw new Error(`systemd does not honour quotes or escapes inside an expanded $VAR: ${value}`);
  return value.trim().split(/\s+/).filter(Boolean);
}
