/**
 * docs/container.md's table of the entrypoint's exit codes says what container/contract.json says:
 * the same codes, each row starting with the contract's meaning.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ENTRYPOINT_EXIT_CODES } from "../../components/contract";
import { REPO_ROOT } from "../helpers/python";

/** Rows `| code | meaning |` of the first table after `heading` (below `section`). */
function tableAfter(text: string, section: string, heading: string): Map<string, string> {
  const start = text.indexOf(heading, text.indexOf(section));
  assert.ok(start >= 0, `docs/container.md has no "${heading}" under "${section}"`);
  const rows = new Map<string, string>();
  const lines = text.slice(start).split("\n").slice(1);
  let inTable = false;
  for (const line of lines) {
    if (!line.startsWith("|")) {
      if (inTable) {
        break;
      }
      continue;
    }
    inTable = true;
    const cells = line.split("|").map((c) => c.trim());
    rows.set(cells[1], cells[2]);
  }
  return rows;
}

describe("contract: the exit codes in docs/container.md", function () {
  it("list the entrypoint's codes with the contract's meanings", function () {
    const doc = fs.readFileSync(path.join(REPO_ROOT, "docs", "container.md"), "utf8");
    const rows = tableAfter(doc, "# The job container", "## Exit codes");
    const numeric = [...rows.keys()].filter((k) => /^\d+$/.test(k));
    assert.deepStrictEqual(
      numeric.map(Number).sort((a, b) => a - b),
      ENTRYPOINT_EXIT_CODES.map((c) => c.code).sort((a, b) => a - b),
    );
    for (const { code, meaning } of ENTRYPOINT_EXIT_CODES) {
      const row = rows.get(String(code)) ?? "";
      assert.ok(
        row.startsWith(meaning),
        `docs/container.md row ${code}: "${row}" should start "${meaning}"`,
      );
    }
  });
});
