import { stringify } from "csv-stringify/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UsageError } from "./command.js";
import { parseBranches } from "./reconciliation-commands.js";

/** A branch as an operator's spreadsheet holds it: names with commas, quotes and Chinese, no surrounding blanks. */
const branch = fc.record({
  provinceInstNo: fc.stringMatching(/^[0-9A-Z]{1,20}$/),
  name: fc
    .string({ unit: fc.constantFrom(..."北京天津分行支行 ,\"'()-AZaz09"), minLength: 1, maxLength: 40 })
    .map((name) => name.trim())
    .filter((name) => name.length > 0),
});

describe("the branch table's CSV (ops branches import)", () => {
  it("gives back every branch a CSV writer wrote, with or without a BOM, a header and CRLF lines", () => {
    fc.assert(
      fc.property(fc.array(branch, { minLength: 1, maxLength: 20 }), fc.boolean(), fc.boolean(), fc.boolean(), (branches, bom, header, crlf) => {
        const csv = stringify(
          branches.map((b) => [b.provinceInstNo, b.name]),
          { bom, record_delimiter: crlf ? "windows" : "unix", ...(header ? { header: true, columns: ["provinceInstNo", "name"] } : {}) },
        );
        expect(parseBranches(csv)).toEqual(branches);
      }),
    );
  });

  it("skips blank lines and trims the cells outside quotes", () => {
    expect(parseBranches("\n 100000 , 北京分行 \n\n110000,\"天津, 分行\"\n")).toEqual([
      { provinceInstNo: "100000", name: "北京分行" },
      { provinceInstNo: "110000", name: "天津, 分行" },
    ]);
  });

  it.each([
    ["a row with one cell", "100000,北京分行\n110000\n", /line 2/],
    ["a row with a third cell", "100000,北京分行\n110000,天津分行,extra\n", /line 2/],
    ["every row with three cells", "100000,北京分行,x\n", /line 1: expected provinceInstNo,name/],
    ["an empty name", "100000,\n", /line 1/],
    ["a quote never closed", "100000,\"北京分行\n", /Quote Not Closed/],
  ])("refuses %s as a usage error naming where", (_case, csv, message) => {
    expect(() => parseBranches(csv)).toThrow(UsageError);
    expect(() => parseBranches(csv)).toThrow(message);
  });
});
