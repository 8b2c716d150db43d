/**
 * The product's modules import one another one way: no cycle among the .ts files of jobs/,
 * components/ and policy/, counting type-only imports, re-exports and dynamic `import()`.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..", "..");
const FOLDERS = ["jobs", "components", "policy"];

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const file = path.join(dir, d.name);
    if (d.isDirectory()) {
      return d.name === "node_modules" ? [] : tsFiles(file);
    }
    return d.name.endsWith(".ts") && !d.name.endsWith(".d.ts") ? [file] : [];
  });
}

/** The product files each product file imports (relative specifiers only). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const targets = ts
      .preProcessFile(text, true, true)
      .importedFiles.filter((f) => f.fileName.startsWith("."))
      .map((f) => path.resolve(path.dirname(file), f.fileName))
      .flatMap((base) => [`${base}.ts`, path.join(base, "index.ts")].filter((t) => known.has(t)));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the files along it, first file last too. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") {
        found.push([...stack.slice(stack.indexOf(next)), next]);
      } else if (state.get(next) === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, "done");
  };
  [...graph.keys()].sort().forEach((f) => state.get(f) === undefined && visit(f));
  return found;
}

describe("the product's import graph", function () {
  it("finds a cycle and names its files", function () {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);
    assert.deepStrictEqual(cycles(graph), [["a", "b", "c", "a"]]);
  });

  it("has no cycle in jobs/, components/ or policy/, not even a type-only one", function () {
    const files = FOLDERS.flatMap((f) => tsFiles(path.join(ROOT, f)));
    const graph = importGraph(files);
    assert.ok(graph.size > 50, `only ${graph.size} files read`);
    const named = cycles(graph).map((c) => c.map((f) => path.relative(ROOT, f)).join(" -> "));
    assert.deepStrictEqual(named, []);
  });
});
