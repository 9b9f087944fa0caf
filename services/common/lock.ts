// The distributed lock on a rights code: Redis when configured, in-process when embedded.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import type { Logger } from "./logger.js";

/**
 * A held lock. `release` deletes the key only if it still holds our token (compare-and-delete), and never
 * throws: a lease it fails to release is logged and expires with its TTL.
 */
export interface Lease {
  release(): Promise<void>;
}

export interface LockService {
  /** Tries `SET key token NX PX ttlMs`, retrying for up to `waitMs`; null when another holder kept it. */
  acquire(key: string, options: { ttlMs: number; waitMs: number }): Promise<Lease | null>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface LockServiceOptions {
  /** redis://… for the cluster path; absent means an in-process lock (one process only). */
  url?: string;
  /** Prefix of every key; default `rights:lock:`. */
  prefix?: string;
  logger: Logger;
}

const COMMAND_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 3_000;

/** Deletes the key only while it still holds our token, so an expired holder never frees a newer one's lock. */
const RELEASE_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

export function createLockService(options: LockServiceOptions): LockService {
  const prefix = options.prefix ?? "rights:lock:";
  return options.url ? new RedisLockService(options.url, prefix, options.logger) : new LocalLockService(prefix, options.logger);
}

/** 15–25 ms: often enough to take a freed lock quickly, jittered so waiters do not retry in step. */
function retryDelay(): number {
  return 15 + Math.random() * 10;
}

function newToken(): string {
  return randomBytes(16).toString("hex");
}

/** Tries `attempt` until it succeeds or `waitMs` passes (at least one try, even with waitMs 0). */
async function acquireWithin(waitMs: number, attempt: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await attempt()) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(retryDelay(), left));
  }
}

/**
 * Releasing is best effort: a lease we fail to release expires with its TTL, and a failure here must not hide
 * the outcome of the work the lock protected, so it is logged rather than thrown.
 */
function lease(release: () => Promise<void>, logger: Logger, key: string): Lease {
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        await release();
      } catch (err) {
        logger.warn({ key, error: err instanceof Error ? err.message : String(err) }, "lock release failed; it expires with its TTL");
      }
    },
  };
}

class RedisLockService implements LockService {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.redis = new Redis(url, {
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Fail fast while Redis is down instead of queueing commands behind a reconnect.
      maxRetriesPerRequest: 1,
    });
    this.redis.on("error", (err: Error) => logger.warn({ error: err.message }, "redis connection error"));
  }

  async acquire(key: string, options: { ttlMs: number; waitMs: number }): Promise<Lease | null> {
    const fullKey = this.prefix + key;
    const token = newToken();
    const ttlMs = Math.max(1, Math.round(options.ttlMs));
    const got = await acquireWithin(options.waitMs, async () => (await this.redis.set(fullKey, token, "PX", ttlMs, "NX")) === "OK");
    if (!got) return null;
    return lease(
      async () => {
        await this.redis.eval(RELEASE_SCRIPT, 1, fullKey, token);
      },
      this.logger,
      fullKey,
    );
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      // quit fails when the connection is already gone; disconnect then frees the socket.
      this.redis.disconnect();
    }
  }
}

/** The same semantics in one process: TTL expiry, token check on release, waiting by retry. */
class LocalLockService implements LockService {
  private readonly held = new Map<string, { token: string; expiresAt: number }>();

  constructor(
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  async acquire(key: string, options: { ttlMs: number; waitMs: number }): Promise<Lease | null> {
    const fullKey = this.prefix + key;
    const token = newToken();
    if (this.held.size > 10_000) this.sweepExpired();
    const got = await acquireWithin(options.waitMs, async () => {
      const current = this.held.get(fullKey);
      if (current && current.expiresAt > Date.now()) return false;
      this.held.set(fullKey, { token, expiresAt: Date.now() + options.ttlMs });
      return true;
    });
    if (!got) return null;
    return lease(
      async () => {
        if (this.held.get(fullKey)?.token === token) this.held.delete(fullKey);
      },
      this.logger,
      fullKey,
    );
  }

  /** Leases never released (their holder crashed mid-way) would otherwise stay in the map after expiring. */
  private sweepExpired(): void {
    const now = Date.now();
    for (const [key, entry] of this.held) if (entry.expiresAt <= now) this.held.delete(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.held.clear();
  }
}
