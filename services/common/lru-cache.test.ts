import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LruCache } from "./lru-cache.js";

describe("LruCache", () => {
  it("never holds more than its bound, and keeps exactly the most recently used keys", () => {
    const operation = fc.oneof(
      fc.record({ set: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ get: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ delete: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(operation, { maxLength: 200 }), (bound, operations) => {
        const cache = new LruCache<number, string>(bound);
        // The model: keys from least to most recently used.
        let model: number[] = [];
        for (const op of operations) {
          if ("set" in op) {
            cache.set(op.set, `v${op.set}`);
            model = [...model.filter((k) => k !== op.set), op.set].slice(-bound);
          } else if ("get" in op) {
            const known = model.includes(op.get);
            expect(cache.get(op.get)).toBe(known ? `v${op.get}` : undefined);
            if (known) model = [...model.filter((k) => k !== op.get), op.get];
          } else {
            cache.delete(op.delete);
            model = model.filter((k) => k !== op.delete);
          }
          expect(cache.size).toBe(model.length);
          expect(cache.size).toBeLessThanOrEqual(bound);
        }
      }),
    );
  });
});
