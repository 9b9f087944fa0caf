import { describe, expect, it } from "vitest";
import { batchedLookup } from "./batched-lookup.js";

describe("batched lookups", () => {
  it("asks the keys of one turn in one load, answers each its own row or undefined, and the next turn in another", async () => {
    const loads: string[][] = [];
    const find = batchedLookup(
      async (keys) => {
        loads.push([...keys]);
        return keys.filter((key) => key !== "missing").map((key) => ({ key, value: key.toUpperCase() }));
      },
      (row) => row.key,
    );
    expect(await Promise.all(["a", "b", "missing", "a"].map(find))).toEqual([{ key: "a", value: "A" }, { key: "b", value: "B" }, undefined, { key: "a", value: "A" }]);
    expect(await find("c")).toEqual({ key: "c", value: "C" });
    expect(loads).toEqual([["a", "b", "missing", "a"], ["c"]]);
  });

  it("fails every lookup of a load that failed, and the next turn loads again", async () => {
    let fail = true;
    const find = batchedLookup(
      async (keys) => {
        if (fail) throw new Error("database gone");
        return keys.map((key) => ({ key }));
      },
      (row) => row.key,
    );
    const answers = await Promise.allSettled(["a", "b"].map(find));
    expect(answers.map((answer) => answer.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await find("a")).toEqual({ key: "a" });
  });

  it("splits more than 100 keys of one turn into loads of at most 100", async () => {
    const sizes: number[] = [];
    const find = batchedLookup(
      async (keys) => {
        sizes.push(keys.length);
        return keys.map((key) => ({ key }));
      },
      (row) => row.key,
    );
    await Promise.all(Array.from({ length: 250 }, (_v, i) => find(String(i))));
    expect(sizes).toEqual([100, 100, 50]);
  });
});
