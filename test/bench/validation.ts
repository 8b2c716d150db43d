/**
 * Validation benchmark (in-process, no servers): a job file of N variables, all valid or
 * all misspelt, through the same steps as `jobs:submit` (parse, schema, names, sort and
 * format every problem). Misspelt names once took 11 s for 8,000 (a line count from the
 * start of the file per problem); the checks are linear now, so bad names cost about what
 * good ones do, and twice the names about twice the time.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { formatProblem } from "../../jobs/errors";
import { expandInputs, loadInputs, sortProblems } from "../../jobs/input/load";
import { checkVariables } from "../../jobs/input/variables";
import { SCRIPT_DESCRIPTION, checkAgainst } from "../helpers/jobs-harness";
import type { BenchResult } from "./result";

const CHECK = checkAgainst(SCRIPT_DESCRIPTION);

function writeJob(dir: string, name: string, n: number, bad: boolean): string {
  const environment = Array.from({ length: n }, (_, i) => ({
    name: bad ? `var_x${i}` : i === 0 ? "var_a" : `X_${i}`,
    value: String(i),
  }));
  environment.push({ name: "save_name", value: "s" });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ containerOverrides: { environment } }, null, 2));
  return file;
}

/** Seconds to validate `file` (the entrypoint's check included) and format its problems; median of 3. */
async function timeValidation(
  file: string,
  cwd: string,
): Promise<{ seconds: number; problems: number }> {
  const runs: number[] = [];
  let problems = 0;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    const { files } = expandInputs([file], cwd);
    const loaded = loadInputs(files);
    const all = sortProblems([
      ...loaded.problems,
      ...(await checkVariables([...loaded.items, ...loaded.invalid], SCRIPT_DESCRIPTION, CHECK))
        .problems,
    ]);
    all.map(formatProblem).join("\n");
    problems = all.length;
    runs.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { seconds: runs.sort((a, b) => a - b)[1], problems };
}

export async function benchValidation(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-validation-"));
  try {
    const good = await timeValidation(writeJob(dir, "good-8000", 8000, false), dir);
    const bad = await timeValidation(writeJob(dir, "bad-8000", 8000, true), dir);
    const bad2 = await timeValidation(writeJob(dir, "bad-16000", 16_000, true), dir);
    const deepFile = path.join(dir, "deep.json");
    fs.writeFileSync(deepFile, `${"[".repeat(20_000)}${"]".repeat(20_000)}`);
    const deep = await timeValidation(deepFile, dir);
    return [
      { name: "validation: a job file of 8,000 valid variables", value: good.seconds, unit: "s" },
      {
        name: `validation: 8,000 misspelt variables (${bad.problems.toLocaleString("en-US")} problems, each located)`,
        value: bad.seconds,
        unit: "s",
        target: "about the valid file's time (was 11 s)",
      },
      {
        name: "validation: 16,000 misspelt variables",
        value: bad2.seconds,
        unit: "s",
        target: "about 2x the 8,000 figure (linear)",
      },
      {
        name: "validation: 20,000 nested [ (refused with file, line and column)",
        value: deep.seconds,
        unit: "s",
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
