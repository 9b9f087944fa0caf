import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { createLockService } from "./lock.js";
import { createLogger } from "./logger.js";

const logger = createLogger("lock-test", "warn");
// A prefix of its own, so parallel runs against one Redis never share keys.
const locks = createLockService({ url: process.env.REDIS_URL, prefix: `test:lock:${randomBytes(4).toString("hex")}:`, logger });

describe(`lock (${process.env.REDIS_URL ? "Redis" : "in-process"})`, () => {
  afterAll(async () => {
    await locks.close();
  });

  it("answers ping", async () => {
    await locks.ping();
  });

  it("lets one holder in at a time", async () => {
    const first = await locks.acquire("code-1", { ttlMs: 5_000, waitMs: 0 });
    expect(first).not.toBeNull();
    expect(await locks.acquire("code-1", { ttlMs: 5_000, waitMs: 50 })).toBeNull();
    expect(await locks.acquire("code-2", { ttlMs: 5_000, waitMs: 0 })).not.toBeNull();
    await first?.release();
    expect(await locks.acquire("code-1", { ttlMs: 5_000, waitMs: 0 })).not.toBeNull();
  });

  it("serialises concurrent critical sections", async () => {
    let inside = 0;
    let maxInside = 0;
    const worker = async () => {
      const lease = await locks.acquire("counter", { ttlMs: 5_000, waitMs: 5_000 });
      if (!lease) throw new Error("lock not acquired");
      inside++;
      maxInside = Math.max(maxInside, inside);
      await sleep(5);
      inside--;
      await lease.release();
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(maxInside).toBe(1);
  });

  it("frees a lock whose holder never released it once the TTL passes", async () => {
    expect(await locks.acquire("ttl", { ttlMs: 100, waitMs: 0 })).not.toBeNull();
    expect(await locks.acquire("ttl", { ttlMs: 100, waitMs: 0 })).toBeNull();
    await sleep(150);
    expect(await locks.acquire("ttl", { ttlMs: 5_000, waitMs: 0 })).not.toBeNull();
  });

  it("a stale holder's release does not free the newer holder's lock", async () => {
    const stale = await locks.acquire("stale", { ttlMs: 100, waitMs: 0 });
    await sleep(150);
    const current = await locks.acquire("stale", { ttlMs: 5_000, waitMs: 0 });
    expect(current).not.toBeNull();
    await stale?.release();
    expect(await locks.acquire("stale", { ttlMs: 5_000, waitMs: 0 })).toBeNull();
    await current?.release();
  });

  it("a waiter gets the lock soon after it is released", async () => {
    const held = await locks.acquire("wait", { ttlMs: 5_000, waitMs: 0 });
    setTimeout(() => void held?.release(), 100);
    const started = Date.now();
    const next = await locks.acquire("wait", { ttlMs: 5_000, waitMs: 2_000 });
    expect(next).not.toBeNull();
    expect(Date.now() - started).toBeLessThan(1_000);
    await next?.release();
  });
});
