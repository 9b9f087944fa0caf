// One clock for every business time, and the business time format. Embedded mode can start the clock at another
// instant (CLOCK_START), so a month of bookings, redemptions and the reconciliation file can be shown in one sitting.
import type { Timestamp } from "@bufbuild/protobuf/wkt";

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that reads `start` now and runs on at real speed from there. */
export function clockStartingAt(start: Date, realNow: () => number = Date.now): Clock {
  const offsetMs = start.getTime() - realNow();
  return { now: () => new Date(realNow() + offsetMs) };
}

/**
 * CLOCK_START: ISO 8601 with an explicit offset or Z (`2026-10-20T10:00:00+08:00`), so the instant never depends
 * on the machine's time zone.
 */
export function parseClockStart(text: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
  const date = new Date(text);
  if (!iso.test(text) || Number.isNaN(date.getTime())) {
    throw new Error("must be ISO 8601 with an offset, e.g. 2026-10-20T10:00:00+08:00");
  }
  return date;
}

/** Business times are Asia/Shanghai: UTC+8 all year (no daylight saving since 1991), so a fixed offset is exact. */
export const BUSINESS_TIME_ZONE = "Asia/Shanghai";
const BUSINESS_OFFSET_MS = 8 * 3_600_000;

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** The contract's `yyyyMMddHHmmss`, in Asia/Shanghai. */
export function formatBusinessTime(date: Date): string {
  const d = new Date(date.getTime() + BUSINESS_OFFSET_MS);
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
  );
}

/**
 * A Timestamp (an event's or an RPC's) as an instant, its fraction of a millisecond dropped as formatting drops the
 * rest of the second: timestampDate rounds, which carries 23:59:59.9995 on a month's last day into the next month.
 */
export function timestampInstant(timestamp: Timestamp): Date {
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1_000_000));
}

/** A Timestamp as the contracts write a time (`yyyyMMddHHmmss`, Asia/Shanghai, cut to the second); undefined if unset. */
export function formatTimestamp(timestamp: Timestamp | undefined): string | undefined {
  return timestamp ? formatBusinessTime(timestampInstant(timestamp)) : undefined;
}

const EPOCH_BUSINESS_TIME = formatBusinessTime(new Date(0));

/** As formatTimestamp, for a contract whose times are required (WHALE's): an unset one is the epoch's `19700101080000`. */
export function formatRequiredTimestamp(timestamp: Timestamp | undefined): string {
  return formatTimestamp(timestamp) ?? EPOCH_BUSINESS_TIME;
}

/** `yyyyMMddHHmmss` in Asia/Shanghai to an instant; undefined unless it is a real date and time in that form. */
export function parseBusinessTime(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(utc - BUSINESS_OFFSET_MS);
  // Date.UTC rolls 31 February over into March: a date that does not round-trip does not exist.
  return formatBusinessTime(date) === text ? date : undefined;
}

/** The business month `YYYYMM` an instant falls in (Asia/Shanghai). */
export function businessMonth(date: Date): string {
  return formatBusinessTime(date).slice(0, 6);
}

/** The first instant of a business month `YYYYMM` (Asia/Shanghai), and of the month after it. */
export function businessMonthRange(month: string): { start: Date; end: Date } | undefined {
  const match = /^(\d{4})(\d{2})$/.exec(month);
  if (!match) return undefined;
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  if (index < 0 || index > 11) return undefined;
  const start = new Date(Date.UTC(year, index, 1) - BUSINESS_OFFSET_MS);
  // Date.UTC reads years 0 to 99 as 1900 to 1999: a month that does not round-trip is not the one asked.
  if (businessMonth(start) !== month) return undefined;
  return { start, end: new Date(Date.UTC(year, index + 1, 1) - BUSINESS_OFFSET_MS) };
}
