"use strict";
/**
 * Makes `.ts` files loadable (`node -r ./bin/register.js file.ts`) without ts-node: each file
 * is transpiled once with the project's TypeScript (`ts.transpileModule`, as ts-node's
 * transpile-only mode does) and cached under a hash of its path and content, tsconfig.json,
 * the TypeScript version and this file, so an edited file can never run as old code. Types
 * are checked by `tsc --noEmit`. `node bin/register.js --warm` (the `prepare` script)
 * transpiles every project file into the cache.
 */
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const TSCONFIG = path.join(ROOT, "tsconfig.json");
const NODE_MODULES = path.join(ROOT, "node_modules");
const CACHE_DIR = process.env.BATCHPY_TS_CACHE || path.join(NODE_MODULES, ".cache", "batchpy-ts");

function sha256(...parts) {
  return crypto.createHash("sha256").update(parts.join("\0")).digest("hex");
}

/** What every output depends on besides its own file: this loader, the options, the compiler. */
const COMPILER_KEY = sha256(
  fs.readFileSync(__filename),
  fs.readFileSync(TSCONFIG),
  fs.readFileSync(require.resolve("typescript/package.json", { paths: [ROOT] })),
);

function cachePath(filename, source) {
  const key = sha256(COMPILER_KEY, filename, source);
  return path.join(CACHE_DIR, key.slice(0, 2), `${key}.js`);
}

let compiler;
/** The compiler and tsconfig's options, loaded only when something must be transpiled. */
function loadCompiler() {
  if (compiler === undefined) {
    const ts = require(require.resolve("typescript", { paths: [ROOT] }));
    const read = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
    const { options, errors } = read.error
      ? { errors: [read.error] }
      : ts.convertCompilerOptionsFromJson(read.config.compilerOptions, ROOT, TSCONFIG);
    if (errors.length > 0) {
      const messages = errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      throw new Error(`${TSCONFIG}: ${messages.join("; ")}`);
    }
    // One self-contained file per module; stack traces map back with --enable-source-maps.
    Object.assign(options, {
      sourceMap: false,
      inlineSourceMap: true,
      module: ts.ModuleKind.CommonJS,
    });
    delete options.outDir;
    compiler = { ts, options };
  }
  return compiler;
}

/**
 * Creates `dir`. npm trusts node_modules/.package-lock.json only while node_modules is no
 * newer, so creating node_modules/.cache must leave node_modules' time as it was.
 */
function makeCacheDir(dir) {
  const creating = !fs.existsSync(path.join(NODE_MODULES, ".cache"));
  const before = creating && fs.existsSync(NODE_MODULES) ? fs.statSync(NODE_MODULES) : undefined;
  fs.mkdirSync(dir, { recursive: true });
  if (before !== undefined) {
    fs.utimesSync(NODE_MODULES, before.atime, before.mtime);
  }
}

/** The JavaScript of `filename` whose content is `source`: from the cache, or transpiled. */
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
  if (out.diagnostics.length > 0) {
    // Syntax errors, as ts-node's transpile-only mode reports them; nothing is cached.
    throw new SyntaxError(
      ts.formatDiagnostics(out.diagnostics, {
        getCurrentDirectory: () => process.cwd(),
        getCanonicalFileName: (f) => f,
        getNewLine: () => "\n",
      }),
    );
  }
  try {
    makeCacheDir(path.dirname(cached));
    // Written whole and renamed, so a concurrent reader never sees half a file.
    const tmp = `${cached}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, out.outputText);
    fs.renameSync(tmp, cached);
  } catch (err) {
    // A read-only checkout (or a full disk) still runs, only without the cache.
    if (!["EACCES", "EPERM", "EROFS", "ENOSPC"].includes(err.code)) {
      throw err;
    }
  }
  return out.outputText;
}

/** Transpiles every project file into the cache, removes every other entry; returns the count. */
function warm() {
  const files = require("fast-glob").sync(
    ["index.ts", "{components,jobs,policy,test}/**/*.ts", "!**/*.d.ts", "!**/node_modules/**"],
    { cwd: ROOT, absolute: true },
  );
  const keep = new Set();
  for (const file of files) {
    const source = fs.readFileSync(file, "utf8");
    javascriptFor(file, source);
    keep.add(path.basename(cachePath(file, source)));
  }
  // Entry by entry, so a process reading the cache meanwhile at worst transpiles a file again.
  for (const dir of fs.existsSync(CACHE_DIR) ? fs.readdirSync(CACHE_DIR) : []) {
    for (const entry of fs.readdirSync(path.join(CACHE_DIR, dir))) {
      if (!keep.has(entry)) {
        fs.rmSync(path.join(CACHE_DIR, dir, entry), { force: true });
      }
    }
  }
  return files.length;
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
  // Node 22.1+ also caches V8's compiled code of every CommonJS module: later starts compile less.
  if (Module.enableCompileCache && !process.env.NODE_COMPILE_CACHE) {
    Module.enableCompileCache(path.join(path.dirname(CACHE_DIR), "batchpy-v8"));
  }
  Module._extensions[".ts"] = (module, filename) => {
    module._compile(javascriptFor(filename, fs.readFileSync(filename, "utf8")), filename);
  };
}
