import type { Clock } from "../../services/common/clock.js";

/** A clock the test moves, running on at real speed from where it is set (retries and leases wait on it). */
export class TestClock implements Clock {
  private offsetMs = 0;
  constructor(start: Date) {
    this.set(start.toISOString());
  }
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  set(iso: string): void {
    this.offsetMs = new Date(iso).getTime() - Date.now();
  }
}
