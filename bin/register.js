"use strict";
/**
 * Runs the repository's TypeScript without ts-node: `require("./bin/register")` (or
 * `node -r ./bin/register.js file.ts`) makes `.ts` files loadable. Each file is transpiled
 * once with the TypeScript compiler the project already has (`ts.transpileModule`, what
 * ts-node's transpile-only mode and Pulumi do) and kept in node_modules/.cache/batchpy-ts/
 * under a hash of everything the output depends on: the file's path and content, the
 * compiler options, the TypeScript version and this file. An edited `.ts` has a new key,
 * so it can never run as old code; an unchanged one costs a read and a hash, and the
 * compiler itself is loaded only when something must be transpiled. Types are checked by
 * `tsc --noEmit` (`npm test`), as with ts-node's transpile-only mode.
 *
 * `node bin/register.js --warm` transpiles every project file into the cache (the
 * package's `prepare` script, so `npm ci` leaves a warm cache).
 */
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const TSCONFIG = path.join(ROOT, "tsconfig.json");
/** Folders with project TypeScript (what `--warm` transpiles). */
const SOURCE_DIRS = ["components", "jobs", "policy", "test"];
const CACHE_DIR =
  process.env.BATCHPY_TS_CACHE || path.join(ROOT, "node_modules", ".cache", "batchpy-ts");

/** @type {string | undefined} */
let optionsKey;
/** What every output depends on besides its own file: compiler, options, this loader. */
function compilerKey() {
  if (optionsKey === undefined) {
    const hash = crypto.createHash("sha256");
    hash.update(fs.readFileSync(__filename));
    hash.update(fs.readFileSync(TSCONFIG));
    hash.update(fs.readFileSync(require.resolve("typescript/package.json", { paths: [ROOT] })));
    optionsKey = hash.digest("hex");
  }
  return optionsKey;
}

/** @type {{ ts: typeof import("typescript"), options: import("typescript").CompilerOptions } | undefined} */
let compiler;
function loadCompiler() {
  if (compiler === undefined) {
    const ts = require(require.resolve("typescript", { paths: [ROOT] }));
    const read = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
    const converted = read.error
      ? { options: {}, errors: [read.error] }
      : ts.convertCompilerOptionsFromJson(read.config.compilerOptions, ROOT, TSCONFIG);
    if (converted.errors.length > 0) {
      const message = converted.errors.map((d) =>
        ts.flattenDiagnosticMessageText(d.messageText, "\n"),
      );
      throw new Error(`${TSCONFIG}: ${message.join("; ")}`);
    }
    const options = {
      ...converted.options,
      // One self-contained file per module; stack traces map back with --enable-source-maps.
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: false,
      noEmit: false,
      declaration: false,
      isolatedModules: true,
      module: ts.ModuleKind.CommonJS,
    };
    delete options.outDir;
    compiler = { ts, options };
  }
  return compiler;
}

/**
 * Creates `dir`. npm trusts its node_modules/.package-lock.json only while no folder in
 * node_modules is newer; creating node_modules/.cache would make it walk all of
 * node_modules on every `npx`, so node_modules keeps its time.
 */
function makeCacheDir(dir) {
  const nodeModules = path.join(ROOT, "node_modules");
  let before;
  if (!fs.existsSync(path.join(nodeModules, ".cache")) && fs.existsSync(nodeModules)) {
    before = fs.statSync(nodeModules);
  }
  fs.mkdirSync(dir, { recursive: true });
  if (before !== undefined) {
    fs.utimesSync(nodeModules, before.atime, before.mtime);
  }
}

/** Where the output for `filename` with content `source` is kept. */
function cachePath(filename, source) {
  const key = crypto
    .createHash("sha256")
    .update(compilerKey())
    .update("\0")
    .update(filename)
    .update("\0")
    .update(source)
    .digest("hex");
  return path.join(CACHE_DIR, key.slice(0, 2), `${key}.js`);
}

/** The JavaScript for `filename` whose content is `source`: from the cache, or transpiled. */
function javascriptFor(filename, source) {
  const cached = cachePath(filename, source);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch (err) {
    // Not transpiled yet (or the cache was removed): do it now and keep it.
    if (err.code !== "ENOENT") {
      throw err;
    }
  }
  const { ts, options } = loadCompiler();
  const out = ts.transpileModule(source, {
    compilerOptions: options,
    fileName: filename,
    reportDiagnostics: true,
  });
  if (out.diagnostics && out.diagnostics.length > 0) {
    // Syntax errors, as ts-node's transpile-only mode reports them; nothing is cached.
    throw new SyntaxError(
      ts.formatDiagnostics(out.diagnostics, {
        getCurrentDirectory: () => process.cwd(),
        getCanonicalFileName: (f) => f,
        getNewLine: () => "\n",
      }),
    );
  }
  const js = out.outputText;
  try {
    makeCacheDir(path.dirname(cached));
    // Written whole and renamed, so a concurrent reader never sees half a file.
    const tmp = `${cached}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, cached);
  } catch (err) {
    // A read-only checkout (or a full disk) still runs, only without the cache.
    if (!["EACCES", "EPERM", "EROFS", "ENOSPC"].includes(err.code)) {
      throw err;
    }
  }
  return js;
}

function registerTypeScript() {
  if (Module._extensions[".ts"] && Module._extensions[".ts"].batchpy) {
    return;
  }
  const load = function (module, filename) {
    module._compile(javascriptFor(filename, fs.readFileSync(filename, "utf8")), filename);
  };
  load.batchpy = true;
  Module._extensions[".ts"] = load;
}

/** Every project `.ts` file (not declarations), for --warm. */
function projectFiles() {
  const files = [path.join(ROOT, "index.ts")];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "node_modules") {
        walk(full);
      } else if (entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        files.push(full);
      }
    }
  };
  for (const dir of SOURCE_DIRS) {
    if (fs.existsSync(path.join(ROOT, dir))) {
      walk(path.join(ROOT, dir));
    }
  }
  return files;
}

/**
 * Transpiles every project file into the cache and removes every other entry (outputs of
 * older file versions); returns the file count. Entry by entry, so a process reading the
 * cache meanwhile at worst transpiles a file again.
 */
function warm() {
  const keep = new Set();
  const files = projectFiles();
  for (const file of files) {
    keep.add(path.basename(cachePath(file, fs.readFileSync(file, "utf8"))));
    javascriptFor(file, fs.readFileSync(file, "utf8"));
  }
  for (const dir of fs.existsSync(CACHE_DIR) ? fs.readdirSync(CACHE_DIR) : []) {
    for (const entry of fs.readdirSync(path.join(CACHE_DIR, dir))) {
      if (!keep.has(entry)) {
        fs.rmSync(path.join(CACHE_DIR, dir, entry), { force: true });
      }
    }
  }
  return files.length;
}

/**
 * Node 22.1+ keeps V8's compiled code of every CommonJS module (the AWS SDK, Pulumi) in a
 * cache checked against each file's content, so later starts compile less.
 */
function enableCompileCache() {
  if (typeof Module.enableCompileCache === "function" && !process.env.NODE_COMPILE_CACHE) {
    Module.enableCompileCache(path.join(path.dirname(CACHE_DIR), "batchpy-v8"));
  }
}

if (require.main === module) {
  if (process.argv[2] !== "--warm") {
    console.error("usage: node bin/register.js --warm");
    process.exit(2);
  }
  const started = Date.now();
  const count = warm();
  console.log(
    `batchpy: transpiled ${count} TypeScript files into ${path.relative(ROOT, CACHE_DIR)} ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
} else {
  enableCompileCache();
  registerTypeScript();
}

module.exports = { CACHE_DIR, javascriptFor, projectFiles };
