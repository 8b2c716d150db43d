/**
 * The product runs its dependencies as they ship: nothing outside test/ replaces Node's
 * module loader (`Module._load`, `_resolveFilename`, `Module.prototype.require`, in any
 * spelling), the `.ts` loader in bin/register.js is the only hook, and no file is matched
 * on another package's internal paths, so a release that moves a file cannot silently
 * change what loads.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..", "..");
const REGISTER = path.join("bin", "register.js");
const LOADER_INTERNALS = new Set(["_load", "_resolveFilename", "_extensions"]);

interface Finding {
  readonly file: string;
  readonly line: number;
  readonly what: string;
}

/** Product source: tracked script files outside test/, docs/ and the container's tests. */
function productFiles(): string[] {
  return execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" })
    .split("\n")
    .filter((f) => !/^(test|docs|container\/tests)\//.test(f))
    .filter((f) => /\.(ts|js|mjs|cjs)$/.test(f) && !f.endsWith(".d.ts"));
}

/** Names of the packages the project depends on, as they appear in a path. */
function dependencyNames(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  return [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)];
}

/** A package name as a pattern for a path, with either separator inside a scoped name. */
function pathPattern(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace("/", "[\\\\/]");
}

/** A string's or template's text, each substitution read as a path separator. */
function textOf(node: ts.Node): string | undefined {
  if (ts.isStringLiteralLike(node)) {
    return node.text;
  }
  if (ts.isTemplateExpression(node)) {
    return node.head.text + node.templateSpans.map((s) => `/${s.literal.text}`).join("");
  }
  return undefined;
}

/** Names bound to `createRequire(…)` in `sf`: requires of their own. */
function requireFunctions(sf: ts.SourceFile): Set<string> {
  const names = new Set(["import", "require", "require.resolve"]);
  const visit = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer !== undefined &&
      ts.isCallExpression(node.initializer) &&
      node.initializer.expression.getText() === "createRequire"
    ) {
      names.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return names;
}

/** A module specifier: what Node resolves (and fails on, loudly), never a match. */
function isSpecifier(node: ts.Node, requires: ReadonlySet<string>): boolean {
  const parent = node.parent;
  if (ts.isImportDeclaration(parent) || ts.isExportDeclaration(parent)) {
    return true;
  }
  if (ts.isExternalModuleReference(parent) || ts.isLiteralTypeNode(parent)) {
    return true;
  }
  if (ts.isCallExpression(parent) && parent.arguments[0] === node) {
    return requires.has(parent.expression.getText());
  }
  return false;
}

/** `_extensions[".ts"]`: the one hook allowed, in bin/register.js. */
function isTsHook(node: ts.Node): boolean {
  const access = node.parent.parent;
  return (
    ts.isIdentifier(node) &&
    node.text === "_extensions" &&
    ts.isElementAccessExpression(access) &&
    textOf(access.argumentExpression) === ".ts"
  );
}

/** What in `file` patches the loader or matches another package's paths. */
function findings(file: string, source: string, dependencies: readonly string[]): Finding[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const requires = requireFunctions(sf);
  const found: Finding[] = [];
  const add = (node: ts.Node, what: string) =>
    found.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1, what });
  const dependencyPath = new RegExp(
    `(^|[\\\\/])(${dependencies.map(pathPattern).join("|")})[\\\\/]`,
  );
  const visit = (node: ts.Node): void => {
    const name = ts.isIdentifier(node) || ts.isPrivateIdentifier(node) ? node.text : textOf(node);
    if (name !== undefined && LOADER_INTERNALS.has(name)) {
      if (!(file === REGISTER && isTsHook(node))) {
        add(node, `Node's loader internal ${name}`);
      }
    }
    if (
      (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) &&
      /^prototype$/.test(node.expression.getText().split(".").pop() ?? "") &&
      (ts.isPropertyAccessExpression(node) ? node.name.text : textOf(node.argumentExpression)) ===
        "require"
    ) {
      add(node, "Module.prototype.require");
    }
    const text = textOf(node);
    if (text !== undefined && !isSpecifier(node, requires)) {
      if (dependencyPath.test(text)) {
        add(node, `a path inside another package: ${JSON.stringify(text)}`);
      } else if (
        /^\.\.?[\\/]/.test(text) &&
        !fs.existsSync(path.resolve(ROOT, path.dirname(file), text))
      ) {
        add(node, `a relative path to no file of this repository: ${JSON.stringify(text)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe("no patched dependencies", function () {
  const dependencies = dependencyNames();

  it("nothing outside test/ patches Node's loader or matches another package's files", function () {
    const all = productFiles().flatMap((f) =>
      findings(f, fs.readFileSync(path.join(ROOT, f), "utf8"), dependencies),
    );
    assert.deepStrictEqual(
      all.map((f) => `${f.file}:${f.line}: ${f.what}`),
      [],
    );
  });

  it("finds each way of patching the loader, and paths into a package", function () {
    const patched = [
      'const Module = require("module");',
      "Module._load = function () {};",
      'Module["_load"] = () => 1;',
      "const m = Module; m._resolveFilename = () => 1;",
      'Object.defineProperty(Module, "_load", { value: 1 });',
      "Module.prototype.require = () => 1;",
      'Module.prototype["require"] = () => 1;',
      'Module._extensions[".js"] = () => 1;',
      "const sep = '/';",
      "const closure = `${sep}@pulumi${sep}pulumi${sep}runtime${sep}closure${sep}`;",
      'const locales = "zod/v4/core/index.cjs";',
      'const windows = "node_modules\\\\typescript\\\\lib\\\\typescript.js";',
      'const deferredBy = new Map([["../locales/index.cjs", []]]);',
    ].join("\n");
    const lines = findings("jobs/patched.ts", patched, ["@pulumi/pulumi", "zod", "typescript"]).map(
      (f) => f.line,
    );
    assert.deepStrictEqual([...new Set(lines)], [2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13]);
  });

  it("allows module specifiers, the .ts hook, and paths of this repository", function () {
    const fine = [
      'import { z } from "zod";',
      'import type { S3Client } from "@aws-sdk/client-s3";',
      'const run = require.resolve("@pulumi/pulumi/cmd/run-policy-pack/run");',
      'const lazy = import("@aws-sdk/client-s3");',
      'const fromPulumi = createRequire(require.resolve("@pulumi/pulumi/package.json"));',
      'const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb");',
      'const contract = require("../../container/contract.json");',
      'const cache = path.join(ROOT, "node_modules", ".cache", "batchpy-ts");',
      'const components = path.join(__dirname, "../../components");',
    ].join("\n");
    const dependencies = ["zod", "@pulumi/pulumi", "google-protobuf"];
    assert.deepStrictEqual(findings("jobs/input/fine.ts", fine, dependencies), []);
    const hook = 'Module._extensions[".ts"] = load;';
    assert.deepStrictEqual(findings(REGISTER, hook, []), []);
    const js = 'Module._extensions[".js"] = load;';
    assert.strictEqual(findings(REGISTER, js, []).length, 1);
  });
});
