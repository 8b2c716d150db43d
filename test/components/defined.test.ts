import * as assert from "assert";
import { definedOnly } from "../../components/defined";

describe("definedOnly", function () {
  it("drops undefined values and keeps every other value, falsy ones included", function () {
    const result = definedOnly({ a: 1, b: undefined, c: null, d: "", e: 0, f: false });
    assert.deepStrictEqual(result, { a: 1, c: null, d: "", e: 0, f: false });
    assert.deepStrictEqual(Object.keys(result), ["a", "c", "d", "e", "f"]);
  });

  it("returns a new object and leaves its argument alone", function () {
    const values = { a: 1, b: undefined };
    assert.notStrictEqual(definedOnly(values), values);
    assert.deepStrictEqual(values, { a: 1, b: undefined });
  });
});
