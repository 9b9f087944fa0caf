import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { until } from "../../test/support/until.js";
import { createLockService, LeaseLost } from "./lock.js";
import { createLogger } from "./logger.js";

const logger = createLogger("lock-test", "warn");
// A prefix of its own, so parallel runs against one Redis never share keys.
const prefix = `test:lock:${randomBytes(4).toString("hex")}:`;
const locks = createLockService({ url: process.env.REDIS_URL, prefix, logger });

/** Holds the event loop, as a long GC pause or a stopped VM does: no timer (no renewal) runs meanwhile. */
function pauseProcess(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

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

  it("says whether its holder had to wait for another", async () => {
    const first = await locks.acquire("code-wait", { ttlMs: 5_000, waitMs: 0 });
    expect(first?.waited).toBe(false);
    const second = locks.acquire("code-wait", { ttlMs: 5_000, waitMs: 2_000 });
    await sleep(50);
    await first?.release();
    const next = await second;
    expect(next?.waited).toBe(true);
    await next?.release();
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

  it("a waiter gets the lock soon after it is released", async () => {
    const held = await locks.acquire("wait", { ttlMs: 5_000, waitMs: 0 });
    setTimeout(() => void held?.release(), 100);
    const started = Date.now();
    const next = await locks.acquire("wait", { ttlMs: 5_000, waitMs: 2_000 });
    expect(next).not.toBeNull();
    expect(Date.now() - started).toBeLessThan(1_000);
    await next?.release();
  });

  it("keeps a renewed lease long past its TTL", async () => {
    const lease = await locks.acquire("renewed", { ttlMs: 300, waitMs: 0 });
    await sleep(1_000);
    expect(await locks.acquire("renewed", { ttlMs: 300, waitMs: 0 })).toBeNull();
    expect(() => lease?.assertHeld()).not.toThrow();
    expect(lease?.signal.aborted).toBe(false);
    await lease?.release();
    expect(await locks.acquire("renewed", { ttlMs: 300, waitMs: 0 })).not.toBeNull();
  });

  it("a holder paused past its TTL knows at once that its lease is lost", async () => {
    const lease = await locks.acquire("paused", { ttlMs: 200, waitMs: 0 });
    pauseProcess(300);
    expect(() => lease?.assertHeld()).toThrow(LeaseLost);
    expect(lease?.signal.aborted).toBe(true);
    const next = await locks.acquire("paused", { ttlMs: 5_000, waitMs: 0 });
    expect(next).not.toBeNull();
    // The lost holder's release leaves the new holder's lock alone.
    await lease?.release();
    expect(await locks.acquire("paused", { ttlMs: 5_000, waitMs: 0 })).toBeNull();
    await next?.release();
  });

  it.runIf(process.env.REDIS_URL)("a lease whose key was taken over is lost at its next renewal", async () => {
    const lease = await locks.acquire("taken", { ttlMs: 600, waitMs: 0 });
    const redis = new Redis(process.env.REDIS_URL ?? "");
    try {
      await redis.set(`${prefix}taken`, "another holder's token", "PX", 5_000);
    } finally {
      redis.disconnect();
    }
    await until(() => lease?.signal.aborted === true, 1_000, "lease lost");
    expect(() => lease?.assertHeld()).toThrow(LeaseLost);
  });

  it.runIf(process.env.REDIS_URL)("frees the codes of a holder whose connection died within one lease TTL", async () => {
    const ttlMs = 1_500;
    const codes = Array.from({ length: 50 }, (_, i) => `crash-${i}`);
    // The crashed holder: its own connection, leases on 50 codes, renewed past their TTL while it lives.
    const holder = createLockService({ url: process.env.REDIS_URL, prefix, logger: createLogger("lock-test", "silent") });
    const leases = await Promise.all(codes.map((code) => holder.acquire(code, { ttlMs, waitMs: 0 })));
    expect(leases.every((lease) => lease !== null)).toBe(true);
    await sleep(ttlMs * 1.5);
    for (const code of codes) expect(await locks.acquire(code, { ttlMs: 5_000, waitMs: 0 })).toBeNull();

    // Gone without releasing anything, as after kill -9.
    await holder.close();
    const diedAt = Date.now();
    const freed = await Promise.all(codes.map((code) => locks.acquire(code, { ttlMs: 5_000, waitMs: ttlMs * 2 })));
    expect(freed.every((lease) => lease !== null)).toBe(true);
    expect(Date.now() - diedAt).toBeLessThan(ttlMs + 500);
    await Promise.all(freed.map((lease) => lease?.release()));
  });
});
