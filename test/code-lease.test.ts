// The rights code's lock as a lease, through the gateway on the real Redis: a booking whose lease another
// holder took while an upstream step ran stops before its next step. (The lease itself, and a crashed
// holder's codes coming free within one TTL: services/common/lock.test.ts.)
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "./support/until.js";
import { freshCode, PATHS, startTestPlatform, type TestPlatform } from "./support/platform.js";
import { cluster } from "./support/cluster.js";

describe.runIf(cluster)("the lock on a rights code (cluster)", () => {
  let platform: TestPlatform;
  let redis: Redis;
  beforeAll(async () => {
    platform = await startTestPlatform("cluster", { upstreamTimeoutMs: 3_000 });
    redis = new Redis(process.env.REDIS_URL ?? "");
  });
  afterAll(async () => {
    redis?.disconnect();
    await platform?.close();
  });

  it("a booking whose lease was taken over during the PSBC call stops before issuing the voucher", async () => {
    const code = freshCode();
    // Longer than a third of the lease's 5 s TTL, so a renewal runs (and finds the key another's) meanwhile.
    platform.psbcSandbox.faults.set("book", { mode: "delay", delayMs: 2_500, times: 1 });
    const answer = platform.call(PATHS.appointment, { code });
    const key = `${platform.redisKeyPrefix}lock:code:${code}`;
    // The booking holds the code and waits on PSBC; a fixed sleep here raced a loaded machine.
    await until(async () => (await redis.exists(key)) === 1, 2_000, "the booking holds its lease");
    // Another holder owns the code now (as after a pause longer than the lease's TTL).
    expect(await redis.set(key, "another holder", "PX", 10_000, "XX")).toBe("OK");

    const { status, body } = await answer;
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 4, msg: "请求处理中,请稍后重试" });
    expect(platform.psbcSandbox.calls.book).toBeGreaterThan(0);
    expect(platform.blueBrothersSandbox.calls.issue).toBe(0);
    expect(await platform.orderRow(code)).toMatchObject({ status: 100 });

    await redis.del(key);
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
  });
});
