import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../services/common/logger.js";
import { startPlatform, type PlatformOptions } from "../services/platform/platform.js";
import { testDatabase, type TestDatabase } from "./support/databases.js";
import { freePort } from "./support/free-port.js";
import { freshCode, modes, PATHS, postPsbc, SANDBOX_AES } from "./support/platform.js";

/**
 * Two platform starts, each migrating five schemas (PGlite in one process in embedded mode: about 10 s on a busy
 * 2-core machine), then a booking, a detail and a cancel: the hook timeout (60 s) per start, not the default 30 s
 * for both.
 */
const RESTART_TEST_TIMEOUT_MS = 120_000;

describe.each(modes)("the embedded platform after a restart (%s)", (mode) => {
  let dataDir: string | undefined;
  let database: TestDatabase | undefined;
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await database?.drop();
  });

  /** As `npm start` twice: the same data (DATA_DIR, or the database) and the same sandbox ports. */
  async function restartableOptions(): Promise<PlatformOptions> {
    const common = {
      logger: createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent"),
      sandboxAes: SANDBOX_AES,
      psbcSandboxPort: await freePort(),
      blueBrothersSandboxPort: await freePort(),
    };
    if (mode === "embedded") {
      dataDir = await mkdtemp(join(tmpdir(), "rights-pglite-"));
      return { ...common, dataDir };
    }
    database = await testDatabase();
    return { ...common, databaseUrl: database.url, redisUrl: process.env.REDIS_URL, natsUrl: process.env.NATS_URL };
  }

  it("answers the same voucher URL, which still opens, and cancels a booking made before the restart", async () => {
    const options = await restartableOptions();
    const code = freshCode();

    const first = await startPlatform(options);
    let url: string;
    try {
      const booked = await postPsbc(first.gatewayUrl, PATHS.appointment, { code });
      expect(booked.body.code).toBe(0);
      url = String(booked.body.data?.url);
      expect(url.startsWith(`http://127.0.0.1:${options.blueBrothersSandboxPort}/redeem/`)).toBe(true);
    } finally {
      await first.close();
    }

    const second = await startPlatform(options);
    try {
      const detail = await postPsbc(second.gatewayUrl, PATHS.detail, { code });
      expect(detail.body).toMatchObject({ code: 0, data: { url } });
      const page = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("NORMAL");

      const cancelled = await postPsbc(second.gatewayUrl, PATHS.cancel, { code });
      expect(cancelled.body.code).toBe(0);
      expect(await second.psbcSandbox.statusOf(code)).toBe("CANCELLED");
      expect(await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text()).toContain("VOIDED");
    } finally {
      await second.close();
    }
  }, RESTART_TEST_TIMEOUT_MS);
});
