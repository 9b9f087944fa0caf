import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "./delivery-workers.js";

describe("the delay before a task's next attempt", () => {
  it("doubles per attempt up to the cap, with at most half of it random", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempts, backoffBaseMs, extra, random) => {
          const schedule = { backoffBaseMs, backoffMaxMs: backoffBaseMs + extra };
          const full = Math.min(schedule.backoffMaxMs, backoffBaseMs * 2 ** Math.min(attempts - 1, 30));
          const delay = backoffDelayMs(attempts, schedule, () => random);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(full / 2));
          expect(delay).toBeLessThanOrEqual(Math.ceil(full));
          expect(backoffDelayMs(attempts + 1, schedule, () => random)).toBeGreaterThanOrEqual(delay);
        },
      ),
    );
  });
});
