// Failures counted per client over a window (wrong download passwords, say): Redis in the cluster, so every
// replica sees the same count; in-process when embedded without it.
import type { Redis } from "ioredis";
import type { Logger } from "./logger.js";
import { closeRedis, connectRedis } from "./redis.js";

export interface RateLimiter {
  /** The failures of `key` in its current window (0 when none). */
  failures(key: string): Promise<number>;
  /** Counts one failure of `key`; its window opens at the first and lasts `windowMs`. Answers the new count. */
  fail(key: string, windowMs: number): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function createRateLimiter(options: { url?: string; prefix?: string; logger: Logger }): RateLimiter {
  const prefix = options.prefix ?? "rights:failures:";
  return options.url ? new RedisRateLimiter(options.url, prefix, options.logger) : new LocalRateLimiter(prefix);
}

/** INCR, and PEXPIRE on the first failure only: the window is fixed from there, not extended by each failure. */
const FAIL_SCRIPT = `local n = redis.call("INCR", KEYS[1]) if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end return n`;

class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    logger: Logger,
  ) {
    this.redis = connectRedis(url, logger);
  }

  async failures(key: string): Promise<number> {
    return Number((await this.redis.get(this.prefix + key)) ?? 0);
  }

  async fail(key: string, windowMs: number): Promise<number> {
    return Number(await this.redis.eval(FAIL_SCRIPT, 1, this.prefix + key, Math.max(1, Math.round(windowMs))));
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  close(): Promise<void> {
    return closeRedis(this.redis);
  }
}

class LocalRateLimiter implements RateLimiter {
  private readonly counts = new Map<string, { count: number; endsAt: number }>();

  constructor(private readonly prefix: string) {}

  private current(key: string): { count: number; endsAt: number } | undefined {
    const entry = this.counts.get(this.prefix + key);
    if (entry && entry.endsAt <= Date.now()) {
      this.counts.delete(this.prefix + key);
      return undefined;
    }
    return entry;
  }

  async failures(key: string): Promise<number> {
    return this.current(key)?.count ?? 0;
  }

  async fail(key: string, windowMs: number): Promise<number> {
    // Bounded: windows that ended are swept before the map grows large.
    if (this.counts.size > 10_000) for (const k of [...this.counts.keys()]) this.current(k.slice(this.prefix.length));
    const entry = this.current(key) ?? { count: 0, endsAt: Date.now() + windowMs };
    entry.count += 1;
    this.counts.set(this.prefix + key, entry);
    return entry.count;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.counts.clear();
  }
}
