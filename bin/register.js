"use strict";
// `node -r ./bin/register.js file.ts`: each file transpiled once, cached under a hash of all
// its output depends on (docs/development.md); `--warm` (the `prepare` script) fills the cache.
const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const TSCONFIG = path.join(ROOT, "tsconfig.json");
const NODE_MODULES = path.join(ROOT, "node_modules");
const CACHE_DIR = process.env.BATCHPY_TS_CACHE || path.join(NODE_MODULES, ".cache", "batchpy-ts");

const sha256 = (...parts) => crypto.createHash("sha256").update(parts.join("\0")).digest("hex");

const COMPILER_KEY = sha256(
  fs.readFileSync(__filename),
  fs.readFileSync(TSCONFIG),
  fs.readFileSync(require.resolve("typescript/package.json", { paths: [ROOT] })),
);

function cachePath(filename, source) {
  const key = sha256(COMPILER_KEY, filename, source);
  return path.join(CACHE_DIR, key.slice(0, 2), `${key}.js`);
}

function transpile(filename, source) {
  const ts = require(require.resolve("typescript", { paths: [ROOT] }));
  const { compilerOptions } = ts.readConfigFile(TSCONFIG, ts.sys.readFile).config;
  const inline = { outDir: undefined, sourceMap: false, inlineSourceMap: true };
  const out = ts.transpileModule(source, {
    compilerOptions: { ...compilerOptions, ...inline },
    fileName: filename,
    reportDiagnostics: true,
  });
  if (out.diagnostics.length > 0) {
    throw new SyntaxError(ts.formatDiagnostics(out.diagnostics, ts.createCompilerHost({})));
  }
  return out.outputText;
}

function javascriptFor(filename, source) {
  const cached = cachePath(filename, source);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch (err) {
    if (err.code !== "ENOENT") {
      throw err;
    }
  }
  const js = transpile(filename, source);
  try {
    // npm trusts node_modules/.package-lock.json only while node_modules is no newer, so
    // creating node_modules/.cache must leave node_modules' time as it was.
    const before = fs.existsSync(path.join(NODE_MODULES, ".cache"))
      ? undefined
      : fs.statSync(NODE_MODULES, { throwIfNoEntry: false });
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    if (before !== undefined) {
      fs.utimesSync(NODE_MODULES, before.atime, before.mtime);
    }
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

if (require.main !== module) {
  Module._extensions[".ts"] = (module, filename) => {
    module._compile(javascriptFor(filename, fs.readFileSync(filename, "utf8")), filename);
  };
} else if (process.argv[2] === "--warm") {
  // Stale entries removed one by one: a concurrent reader at worst transpiles a file again.
  const started = Date.now();
  const files = require("fast-glob").sync(
    ["index.ts", "{components,jobs,policy,test}/**/*.ts", "!**/*.d.ts", "!**/node_modules/**"],
    { cwd: ROOT, absolute: true },
  );
  const keep = new Set(
    files.map((file) => {
      const source = fs.readFileSync(file, "utf8");
      javascriptFor(file, source);
      return cachePath(file, source);
    }),
  );
  for (const entry of require("fast-glob").sync("*/*", { cwd: CACHE_DIR, absolute: true })) {
    if (!keep.has(entry)) {
      fs.rmSync(entry, { force: true });
    }
  }
  console.log(
    `batchpy: transpiled ${files.length} TypeScript files into ${path.relative(ROOT, CACHE_DIR)} ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
} else {
  console.error("usage: node bin/register.js --warm");
  process.exit(2);
}
