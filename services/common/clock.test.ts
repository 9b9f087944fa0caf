import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { businessMonth, businessMonthRange, clockStartingAt, formatBusinessTime, formatRequiredTimestamp, formatTimestamp, parseBusinessTime, parseClockStart } from "./clock.js";

describe("business time (Asia/Shanghai, yyyyMMddHHmmss)", () => {
  it.each([
    ["2026-10-31T16:00:00Z", "20261101000000", "202611"],
    ["2026-10-31T15:59:59Z", "20261031235959", "202610"],
    ["2025-12-31T16:30:00Z", "20260101003000", "202601"],
  ])("formats %s as %s, in month %s", (iso, text, month) => {
    expect(formatBusinessTime(new Date(iso))).toBe(text);
    expect(businessMonth(new Date(iso))).toBe(month);
  });

  it("parses what it formats, to the second", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T00:00:00Z"), noInvalidDate: true }), (date) => {
        const seconds = new Date(Math.floor(date.getTime() / 1000) * 1000);
        expect(parseBusinessTime(formatBusinessTime(seconds))?.getTime()).toBe(seconds.getTime());
      }),
    );
  });

  it.each(["20260231000000", "2026013100000", "20261301000000", "20260101246000", "2026-01-01", "２０２６0101000000"])(
    "refuses %s",
    (text) => expect(parseBusinessTime(text)).toBeUndefined(),
  );

  it("gives a month's bounds in Asia/Shanghai", () => {
    expect(businessMonthRange("202512")).toEqual({ start: new Date("2025-11-30T16:00:00Z"), end: new Date("2025-12-31T16:00:00Z") });
    expect(businessMonthRange("202513")).toBeUndefined();
    expect(businessMonthRange("009912")).toBeUndefined();
  });
});

describe("formatTimestamp", () => {
  it("writes a Timestamp as the contracts' time, its last second cut (never rounded into the next day), and nothing when unset", () => {
    const lastMoment = Date.UTC(2026, 9, 31, 15, 59, 59, 999); // 2026-10-31 23:59:59.999 in Beijing
    expect(formatTimestamp({ ...timestampFromMs(lastMoment), nanos: 999_999_999 })).toBe("20261031235959");
    expect(formatTimestamp(undefined)).toBeUndefined();
    expect(formatRequiredTimestamp(undefined)).toBe("19700101080000");
    expect(formatRequiredTimestamp(timestampFromMs(lastMoment))).toBe("20261031235959");
  });
});

describe("the clock", () => {
  it("starts at CLOCK_START and runs on at real speed", () => {
    let real = 1_000_000;
    const clock = clockStartingAt(parseClockStart("2026-10-20T10:00:00+08:00"), () => real);
    expect(clock.now().toISOString()).toBe("2026-10-20T02:00:00.000Z");
    real += 61_000;
    expect(clock.now().toISOString()).toBe("2026-10-20T02:01:01.000Z");
  });

  it.each(["2026-10-20T10:00:00", "2026-10-20", "yesterday", "2026-13-20T10:00:00+08:00"])("refuses CLOCK_START %s", (text) => {
    expect(() => parseClockStart(text)).toThrow(/ISO 8601/);
  });
});
