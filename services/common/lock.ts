// The distributed lock on a rights code: Redis when configured, in-process when embedded.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import type { Logger } from "./logger.js";
import { closeRedis, connectRedis } from "./redis.js";

/** Thrown by `Lease.assertHeld` once the lease may have lapsed: another holder may own the key now. */
export class LeaseLost extends Error {
  constructor(readonly key: string) {
    super(`lease on ${key} lost`);
    this.name = "LeaseLost";
  }
}

/**
 * A held lock, kept as a lease: a short TTL renewed every TTL/3 while the holder lives, so a crashed holder's
 * keys are free within one TTL. Once a renewal finds the key gone or another's, or no renewal succeeded within
 * the TTL, the lease is lost: `signal` aborts and `assertHeld` throws, and the holder must stop before its next
 * step. `release` deletes the key only if it still holds our token (compare-and-delete), and never throws: a
 * lease it fails to release is logged and expires with its TTL.
 */
export interface Lease {
  readonly signal: AbortSignal;
  /**
   * Whether the first attempt found the key held, so this holder waited for another one (whose work may have
   * changed what the lock protects). Undefined when the lock service cannot tell: assume it did.
   */
  readonly waited?: boolean;
  /** Throws LeaseLost when the lease is lost or its TTL passed since the last confirmed renewal. */
  assertHeld(): void;
  release(): Promise<void>;
}

export interface LockService {
  /**
   * Tries `SET key token NX PX ttlMs`, retrying for up to `waitMs`; null when another holder kept it. The lease
   * is renewed to `ttlMs` every `ttlMs / 3` until released or lost.
   */
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

/** Deletes the key only while it still holds our token, so an expired holder never frees a newer one's lock. */
const RELEASE_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;
/** Extends the key's TTL only while it still holds our token (compare-and-pexpire); 0 when it is gone or another's. */
const RENEW_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`;

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

/**
 * Tries `attempt` until it succeeds or `waitMs` passes (at least one try, even with waitMs 0): the number of
 * attempts it took, or 0 when none succeeded.
 */
async function acquireWithin(waitMs: number, attempt: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + waitMs;
  for (let attempts = 1; ; attempts++) {
    if (await attempt()) return attempts;
    const left = deadline - Date.now();
    if (left <= 0) return 0;
    await sleep(Math.min(retryDelay(), left));
  }
}

interface LeaseKeeping {
  key: string;
  ttlMs: number;
  /** When the acquiring command was sent: the TTL runs from there at the latest. */
  acquiredAt: number;
  /** The first attempt found the key held. */
  waited: boolean;
  /** Extends the TTL if the key still holds our token; false when it does not. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
  logger: Logger;
}

/**
 * A lease renewed every TTL/3. Its TTL counts from when the last successful renewal was sent, so a holder that
 * cannot reach the lock server (or was paused) knows it lost the lease without asking anyone. Releasing is
 * best effort: a failure must not hide the outcome of the work the lock protected, so it is logged, not thrown.
 */
class RenewedLease implements Lease {
  private readonly lost = new AbortController();
  private heldUntil: number;
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  constructor(private readonly keeping: LeaseKeeping) {
    this.heldUntil = keeping.acquiredAt + keeping.ttlMs;
    this.schedule();
  }

  get signal(): AbortSignal {
    return this.lost.signal;
  }

  get waited(): boolean {
    return this.keeping.waited;
  }

  assertHeld(): void {
    if (!this.lost.signal.aborted && Date.now() >= this.heldUntil) this.lose("not renewed within its TTL");
    if (this.lost.signal.aborted) throw new LeaseLost(this.keeping.key);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.timer);
    try {
      await this.keeping.release();
    } catch (err) {
      this.keeping.logger.warn({ key: this.keeping.key, error: messageOf(err) }, "lock release failed; it expires with its TTL");
    }
  }

  private schedule(): void {
    // Unref'd: a lease never keeps a process alive that has nothing else to do.
    this.timer = setTimeout(() => void this.renewOnce(), Math.max(1, this.keeping.ttlMs / 3)).unref();
  }

  private async renewOnce(): Promise<void> {
    if (this.released || this.lost.signal.aborted) return;
    if (Date.now() >= this.heldUntil) return this.lose("not renewed within its TTL");
    const sentAt = Date.now();
    try {
      if (!(await this.keeping.renew())) return this.lose("the key expired or another holder took it");
      this.heldUntil = sentAt + this.keeping.ttlMs;
    } catch (err) {
      // Keep trying until the TTL runs out: a short blip of the lock server must not stop a saga.
      this.keeping.logger.warn({ key: this.keeping.key, error: messageOf(err) }, "lock renewal failed; retrying");
    }
    if (!this.released) this.schedule();
  }

  private lose(why: string): void {
    if (this.lost.signal.aborted) return;
    this.keeping.logger.warn({ key: this.keeping.key, why }, "lock lease lost; its holder stops before its next step");
    this.lost.abort(new LeaseLost(this.keeping.key));
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The scripts as commands of their own: sent by SHA (EVALSHA) once Redis has them, not as their text each time. */
type LeaseRedis = Redis & {
  releaseLease(key: string, token: string): Promise<number>;
  renewLease(key: string, token: string, ttlMs: number): Promise<number>;
};

class RedisLockService implements LockService {
  private readonly redis: LeaseRedis;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    const redis = connectRedis(url, logger);
    redis.defineCommand("releaseLease", { numberOfKeys: 1, lua: RELEASE_SCRIPT });
    redis.defineCommand("renewLease", { numberOfKeys: 1, lua: RENEW_SCRIPT });
    this.redis = redis as LeaseRedis;
  }

  async acquire(key: string, options: { ttlMs: number; waitMs: number }): Promise<Lease | null> {
    const fullKey = this.prefix + key;
    const token = newToken();
    const ttlMs = Math.max(1, Math.round(options.ttlMs));
    let acquiredAt = 0;
    const attempts = await acquireWithin(options.waitMs, async () => {
      acquiredAt = Date.now();
      return (await this.redis.set(fullKey, token, "PX", ttlMs, "NX")) === "OK";
    });
    if (attempts === 0) return null;
    return new RenewedLease({
      key: fullKey,
      ttlMs,
      acquiredAt,
      waited: attempts > 1,
      renew: async () => (await this.redis.renewLease(fullKey, token, ttlMs)) === 1,
      release: async () => {
        await this.redis.releaseLease(fullKey, token);
      },
      logger: this.logger,
    });
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  close(): Promise<void> {
    return closeRedis(this.redis);
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
    const { ttlMs } = options;
    const attempts = await acquireWithin(options.waitMs, async () => {
      const current = this.held.get(fullKey);
      if (current && current.expiresAt > Date.now()) return false;
      this.held.set(fullKey, { token, expiresAt: Date.now() + ttlMs });
      return true;
    });
    if (attempts === 0) return null;
    return new RenewedLease({
      key: fullKey,
      ttlMs,
      acquiredAt: Date.now(),
      waited: attempts > 1,
      renew: async () => {
        const current = this.held.get(fullKey);
        if (current?.token !== token || current.expiresAt <= Date.now()) return false;
        current.expiresAt = Date.now() + ttlMs;
        return true;
      },
      release: async () => {
        if (this.held.get(fullKey)?.token === token) this.held.delete(fullKey);
      },
      logger: this.logger,
    });
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
