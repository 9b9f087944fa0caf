import { describe, expect, it } from "vitest";
import { messageOf } from "./make-code-notices.js";

const order = (n: number) => ({
  ticketName: "COSTA30元代金券",
  validEnd: new Date("2026-12-01T00:00:00+08:00"),
  codes: Array.from({ length: n }, (_, i) => ({ code: String(10n ** 25n + BigInt(i)), url: "", channelRef: "x", status: "00" })),
});

describe("the make-code SMS text", () => {
  it.each([1, 2, 17, 100])("holds the codes that fit in 500 characters, then how many there are (%i codes)", (n) => {
    const text = messageOf(order(n));
    expect(text.length).toBeLessThanOrEqual(500);
    expect(text).toContain(order(n).codes[0]?.code);
    expect(text.endsWith("，有效期至2026-12-01。")).toBe(true);
    expect(text.includes(`等${n}个`)).toBe(order(n).codes.map((c) => c.code).some((code) => !text.includes(code)));
  });
});
