import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import fg from "fast-glob";
import { expandInputs, jobFilesIn, loadInputs, notUtf8At } from "../../jobs/input/load";

describe("jobs/input/load: arguments to job files", function () {
  let dir: string;
  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-load-"));
    fs.mkdirSync(path.join(dir, "jobs"));
    fs.mkdirSync(path.join(dir, "empty"));
    for (const f of ["jobs/b.json", "jobs/a.CSV", "jobs/c.tsv", "jobs/notes.txt", "x.yaml"]) {
      fs.writeFileSync(path.join(dir, f), "");
    }
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("expands files, directories and globs in argument order, each file once", function () {
    const r = expandInputs(["jobs/b.json", "jobs", "jobs/*.tsv"], dir);
    assert.deepStrictEqual(
      r.files.map((f) => f.shown),
      [path.join("jobs", "b.json"), path.join("jobs", "a.CSV"), path.join("jobs", "c.tsv")],
    );
    assert.deepStrictEqual(r.problems, []);
  });

  it("says why an argument gives no files", function () {
    const r = expandInputs(["x.yaml", "empty", "jobs/*.yaml", "missing.json"], dir);
    assert.deepStrictEqual(r.files, []);
    assert.deepStrictEqual(r.problems, [
      { file: "x.yaml", message: "not a job or sweep file: expected .json, .csv or .tsv" },
      { file: "empty", message: "the directory has no .json, .csv or .tsv files" },
      { file: "jobs/*.yaml", message: "the pattern matches no .json, .csv or .tsv files" },
      { file: "missing.json", message: "no such file or directory" },
    ]);
    assert.deepStrictEqual(expandInputs([], dir).problems, [
      { message: "no job files given; pass files, directories or glob patterns" },
    ]);
  });

  it("shows a file outside the working directory by its absolute path", function () {
    const r = expandInputs([path.join(dir, "jobs", "b.json")], path.join(dir, "empty"));
    assert.deepStrictEqual(r.files, [
      { shown: path.join(dir, "jobs", "b.json"), absolute: path.join(dir, "jobs", "b.json") },
    ]);
  });

  it("lists a folder's job files as fast-glob's *.json, *.csv, *.tsv would", function () {
    const folder = path.join(dir, "mixed");
    fs.mkdirSync(folder);
    const files = ["a.json", "B.JSON", "c.Csv", "d.tsv", "e.txt", "f g.json", "h[1].json"];
    for (const f of [...files, ".hidden.json", ".json", "x.json.bak", "ü.json", "sub/s.json"]) {
      fs.mkdirSync(path.dirname(path.join(folder, f)), { recursive: true });
      fs.writeFileSync(path.join(folder, f), "{}");
    }
    fs.mkdirSync(path.join(folder, "dir.json"));
    fs.symlinkSync("a.json", path.join(folder, "link.json"));
    fs.symlinkSync("nowhere.json", path.join(folder, "broken.json"));
    fs.symlinkSync("sub", path.join(folder, "linked-dir.json"));
    const globbed = fg
      .sync(["*.json", "*.csv", "*.tsv"], {
        cwd: folder,
        onlyFiles: true,
        caseSensitiveMatch: false,
      })
      .sort();
    assert.deepStrictEqual(jobFilesIn(folder), globbed);
    assert.deepStrictEqual(globbed, [
      "B.JSON",
      "a.json",
      "c.Csv",
      "d.tsv",
      "f g.json",
      "h[1].json",
      "link.json",
      "ü.json",
    ]);
  });
});

describe("jobs/input/load: files that are not UTF-8", function () {
  let dir: string;
  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-utf8-"));
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("locates the first byte that is not UTF-8, and passes UTF-8 (a real U+FFFD too)", function () {
    assert.deepStrictEqual(notUtf8At(Buffer.from("var_a,var_b\n1,caf\xe9\n", "latin1")), {
      line: 2,
      column: 6,
    });
    assert.deepStrictEqual(notUtf8At(Buffer.from([0x61, 0xf0, 0x9f, 0x98])), {
      line: 1,
      column: 2,
    });
    assert.strictEqual(notUtf8At(Buffer.from("café 😀 \ufffd\n", "utf8")), undefined);
  });

  it("refuses a Latin-1 CSV sweep and a JSON job file at the byte, with the rest still checked", function () {
    fs.writeFileSync(path.join(dir, "params.csv"), Buffer.from("var_a\ncaf\xe9\n", "latin1"));
    fs.writeFileSync(
      path.join(dir, "job.json"),
      Buffer.from('{"jobName": "j\xe9", "containerOverrides": 3}', "latin1"),
    );
    const { files } = expandInputs(["params.csv", "job.json"], dir);
    const { problems } = loadInputs(files);
    const fix = "the file is not UTF-8 text from here on; save it with UTF-8 encoding";
    assert.deepStrictEqual(
      problems.filter((p) => p.message === fix),
      [
        { file: "params.csv", line: 2, column: 4, message: fix },
        { file: "job.json", line: 1, column: 15, message: fix },
      ],
    );
    assert.ok(problems.some((p) => p.file === "job.json" && p.message !== fix));
  });
});
