/**
 * Lists the functions of the given files that are longer than ~60 lines or nest deeper than
 * 4 (if/for/while/switch/try), longest first: the ones to split into named steps.
 *
 *   node -r ./bin/register.js test/tooling/long-functions.ts components/*.ts policy/*.ts
 *
 * Nesting counts inside one function only: a closure is measured on its own.
 */
import * as fs from "fs";
import * as ts from "typescript";

const MAX_LINES = 60;
const MAX_DEPTH = 4;

const NESTING = new Set([
  ts.SyntaxKind.IfStatement,
  ts.SyntaxKind.ForStatement,
  ts.SyntaxKind.ForOfStatement,
  ts.SyntaxKind.ForInStatement,
  ts.SyntaxKind.WhileStatement,
  ts.SyntaxKind.DoStatement,
  ts.SyntaxKind.SwitchStatement,
  ts.SyntaxKind.TryStatement,
]);

export interface FunctionSize {
  readonly file: string;
  readonly line: number;
  readonly name: string;
  readonly lines: number;
  readonly depth: number;
}

function isFunction(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** The deepest if/for/while/switch/try nesting in `fn`, not counting nested functions. */
function nestingDepth(fn: ts.Node): number {
  let deepest = 0;
  const walk = (node: ts.Node, depth: number): void => {
    ts.forEachChild(node, (child) => {
      if (isFunction(child)) {
        return;
      }
      const next = NESTING.has(child.kind) ? depth + 1 : depth;
      deepest = Math.max(deepest, next);
      walk(child, next);
    });
  };
  walk(fn, 0);
  return deepest;
}

function functionName(fn: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(fn)) {
    const owner = fn.parent;
    return `${ts.isClassDeclaration(owner) && owner.name ? owner.name.text : "class"} constructor`;
  }
  if (fn.name !== undefined) {
    return fn.name.getText(source);
  }
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) {
    return parent.name.getText(source);
  }
  return "<anonymous>";
}

/** Every function of one source text, with its length in lines and its nesting depth. */
export function functionSizes(file: string, text: string): FunctionSize[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const sizes: FunctionSize[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunction(node)) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.end).line;
      sizes.push({
        file,
        line: start + 1,
        name: functionName(node, source),
        lines: end - start + 1,
        depth: nestingDepth(node),
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return sizes;
}

if (require.main === module) {
  const tooBig = process.argv
    .slice(2)
    .flatMap((file) => functionSizes(file, fs.readFileSync(file, "utf8")))
    .filter((f) => f.lines > MAX_LINES || f.depth > MAX_DEPTH)
    .sort((a, b) => b.lines - a.lines);
  for (const f of tooBig) {
    process.stdout.write(`${f.lines}\tdepth ${f.depth}\t${f.file}:${f.line}\t${f.name}\n`);
  }
}
