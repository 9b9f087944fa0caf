import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../services/common/logger.js";
import { startPlatform } from "../services/platform/platform.js";
import { freshCode, PATHS, postPsbc, SANDBOX_AES } from "./support/platform.js";

describe("embedded mode keeps its data in DATA_DIR", () => {
  let dataDir: string | undefined;
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("answers a booking made before a restart", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "rights-pglite-"));
    const options = { logger: createLogger("test", "silent"), dataDir, sandboxAes: SANDBOX_AES };
    const code = freshCode();

    const first = await startPlatform(options);
    let url: unknown;
    try {
      const booked = await postPsbc(first.gatewayUrl, PATHS.appointment, { code });
      expect(booked.body.code).toBe(0);
      url = booked.body.data?.url;
    } finally {
      await first.close();
    }

    const second = await startPlatform(options);
    try {
      const detail = await postPsbc(second.gatewayUrl, PATHS.detail, { code });
      expect(detail.body).toMatchObject({ code: 0, data: { url } });
    } finally {
      await second.close();
    }
  });
});
