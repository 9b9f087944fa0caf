// One way to reach Redis for every part that needs it (the lock, the rate limiter): bounded timeouts, failing fast
// while Redis is down instead of queueing commands behind a reconnect, and connection errors logged, not thrown.
// Commands issued in one event-loop turn (the locks of concurrent bookings, their releases) leave in one write
// (ioredis's auto-pipelining), not one write and one wake-up of Redis each.
import { Redis } from "ioredis";
import type { Logger } from "./logger.js";

const COMMAND_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 3_000;

export function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
  });
  redis.on("error", (err: Error) => logger.warn({ error: err.message }, "redis connection error"));
  return redis;
}

export async function closeRedis(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    // quit fails when the connection is already gone; disconnect then frees the socket.
    redis.disconnect();
  }
}
