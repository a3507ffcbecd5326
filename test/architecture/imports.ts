/**
 * The repository's own import graph, read the way the compiler reads it: every `import`, `export …
 * from` and `import()` of a relative path, type-only imports included (they tie modules together
 * just as much for a reader, and a circle through types still means an owner is misplaced).
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));

export interface ImportEdge {
  /** Both paths relative to the repository, with forward slashes. */
  from: string;
  to: string;
}

/** Every .ts file under a folder of the repository, skipping dependencies and build output. */
export function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) found.push(repositoryPath(path));
    }
  };
  walk(join(REPOSITORY, folder));
  return found.sort();
}

/** The relative imports of one file, resolved to repository paths. */
export function importsOf(file: string): ImportEdge[] {
  const info = ts.preProcessFile(readFileSync(join(REPOSITORY, file), "utf8"), true, true);
  return info.importedFiles
    .map((imported) => imported.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => ({ from: file, to: resolveSpecifier(file, specifier) }));
}

function resolveSpecifier(file: string, specifier: string): string {
  const target = resolve(REPOSITORY, dirname(file), specifier);
  const candidates = [target, `${target}.ts`, join(target, "index.ts")];
  return repositoryPath(candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile()) ?? target);
}

function repositoryPath(path: string): string {
  return relative(REPOSITORY, path).split("\\").join("/");
}

/** Every circle in the graph of these files, each named as its path `a → b → … → a`, once. */
export function importCycles(files: string[]): string[][] {
  const edges = new Map(files.map((file) => [file, [...new Set(importsOf(file).map((edge) => edge.to))].filter((to) => to !== file)]));
  const components = stronglyConnected(edges);
  return components.filter((component) => component.length > 1).map((component) => shortestCircle(component, edges));
}

/** Tarjan's algorithm: the groups of files that all reach each other. */
function stronglyConnected(edges: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!edges.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      components.push(component.sort());
    }
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return components;
}

/** One shortest circle through the component's first file, to name the problem readably. */
function shortestCircle(component: string[], edges: Map<string, string[]>): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const next of edges.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return component;
}
