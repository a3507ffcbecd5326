/**
 * Docker's `filters` query parameter: JSON, either `{"key": {"value": true}}` or the legacy
 * `{"key": ["value"]}`. Tenants' filters are parsed strictly (a key the operation does not know is
 * refused, since the engine would silently ignore it and the proxy could not promise what it does),
 * scoped where they name objects, and always sent on together with the owner label, which the
 * engine ANDs with everything else.
 */
import { Refusal, badRequest } from "../http/errors.ts";
import { parseJson } from "../http/request.ts";

export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | null, allowedKeys: readonly string[]): Filters {
  const filters: Filters = new Map();
  if (raw === null || raw === "") return filters;
  let parsed: unknown;
  try {
    parsed = parseJson(raw);
  } catch (error) {
    if (error instanceof Refusal) throw error;
    throw badRequest(`malformed filters: ${raw.slice(0, 120)}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw badRequest("filters must be a JSON object");
  for (const [key, value] of Object.entries(parsed)) {
    if (!allowedKeys.includes(key)) throw badRequest(`invalid filter '${key}'`, key);
    let values: unknown[];
    if (Array.isArray(value)) values = value;
    else if (value !== null && typeof value === "object") {
      values = Object.entries(value).map(([v, on]) => {
        if (on !== true) throw badRequest(`filter '${key}': only true may follow a value`);
        return v;
      });
    } else throw badRequest(`filter '${key}' must list its values`);
    if (!values.every((v): v is string => typeof v === "string")) throw badRequest(`filter '${key}' values must be strings`);
    filters.set(key, values);
  }
  return filters;
}

export function serializeFilters(filters: Filters): string {
  const out: Record<string, Record<string, true>> = {};
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    out[key] = Object.fromEntries(values.map((v) => [v, true]));
  }
  return JSON.stringify(out);
}

/** Adds the owner label (ANDed by the engine with any label filter the tenant gave). */
export function withOwner(filters: Filters, ownerFilter: string | undefined): Filters {
  if (ownerFilter === undefined) return filters;
  const next = new Map(filters);
  next.set("label", [...(filters.get("label") ?? []), ownerFilter]);
  return next;
}

/**
 * Docker matches `name` filters as regular expressions against engine names; the proxy applies them
 * to the names tenants see instead, so a pattern can neither match nor probe the tenant prefix.
 * Go's regexp runs in linear time but JavaScript's backtracks, so only the shapes people use with
 * names are accepted (literal name characters, `.`, anchors): no pattern can stall the proxy.
 */
const SAFE_NAME_PATTERN = /^\^?\/?[A-Za-z0-9_.-]*\$?$/;

export function nameMatcher(patterns: readonly string[] | undefined): (visibleName: string) => boolean {
  if (!patterns || patterns.length === 0) return () => true;
  const regexes = patterns.map((pattern) => {
    if (!SAFE_NAME_PATTERN.test(pattern)) {
      throw badRequest(`name filter "${pattern}": only name characters, '.', '^' and '$' are supported`, pattern);
    }
    return new RegExp(pattern);
  });
  return (name) => regexes.some((regex) => regex.test(name));
}

/**
 * A list's filters with `name` taken out: the proxy matches names itself (see nameMatcher), the
 * rest goes to the engine.
 */
export function listFilters(raw: string | null, allowedKeys: readonly string[]): { filters: Filters; matchesName: (visibleName: string) => boolean } {
  const filters = parseFilters(raw, allowedKeys);
  const matchesName = nameMatcher(filters.get("name"));
  filters.delete("name");
  return { filters, matchesName };
}
