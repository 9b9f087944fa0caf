import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CODE_LENGTH, generateCodes, isWellFormedCode, luhnDigit } from "./code-generator.js";

describe("WHALE's code generator", () => {
  it("makes 26-digit codes whose Luhn check digit holds, all different", () => {
    const codes = generateCodes(20_000);
    expect(codes).toHaveLength(20_000);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) {
      expect(code).toMatch(/^\d{26}$/);
      expect(isWellFormedCode(code)).toBe(true);
    }
  });

  it("computes the Luhn digit of known numbers", () => {
    expect(luhnDigit("7992739871")).toBe("3");
    expect(luhnDigit("4539148803436467".slice(0, -1))).toBe("7");
    expect(luhnDigit("0")).toBe("0");
  });

  it("uses the random bytes uniformly: every digit position takes all ten digits about equally", () => {
    // counts[position * 10 + digit]
    const counts = new Array<number>((CODE_LENGTH - 1) * 10).fill(0);
    for (const code of generateCodes(20_000)) {
      for (let i = 0; i < CODE_LENGTH - 1; i += 1) counts[i * 10 + code.charCodeAt(i) - 48] = (counts[i * 10 + code.charCodeAt(i) - 48] ?? 0) + 1;
    }
    // 2,000 expected per cell; ±15% is far beyond chance (σ ≈ 42) and far below a biased leading digit.
    for (const n of counts) expect(Math.abs(n - 2000)).toBeLessThan(300);
  });

  it("refuses draws above the largest multiple of 10^25, so no value is likelier than another", () => {
    // All-0xff draws are above the limit; the source then gives zeros: the code is 25 zeros and its check digit.
    let call = 0;
    const source = (size: number) => (call++ === 0 ? Buffer.alloc(size, 0xff) : Buffer.alloc(size, 0));
    expect(generateCodes(1, source)).toEqual([`${"0".repeat(25)}0`]);
  });

  it("catches every single mistyped digit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: CODE_LENGTH - 1 }), fc.integer({ min: 1, max: 9 }), (position, delta) => {
        const [code] = generateCodes(1);
        if (!code) throw new Error("no code");
        const wrong = code.slice(0, position) + String((Number(code[position]) + delta) % 10) + code.slice(position + 1);
        expect(isWellFormedCode(wrong)).toBe(false);
      }),
    );
    expect(isWellFormedCode("1234")).toBe(false);
    expect(isWellFormedCode("a".repeat(CODE_LENGTH))).toBe(false);
  });
});
