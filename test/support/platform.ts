import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { encryptRightsRequest, type AesSecret } from "../../services/order/psbc/rights-request.js";
import type { Clock } from "../../services/common/clock.js";
import { createLogger } from "../../services/common/logger.js";
import type { AnyServiceDescriptor } from "../../services/common/service-descriptor.js";
import { startPlatform, type RunningPlatform } from "../../services/platform/platform.js";
import { assertContractResponse } from "./psbc-contract.js";
import { cluster } from "./cluster.js";
import { testDatabase } from "./databases.js";
import { startTestNatsServer, type TestNatsServer } from "./nats-server.js";

import { SANDBOX_AES } from "../../services/sandbox/credentials.js";

export { SANDBOX_AES };

/** The modes the end-to-end tests run in: always embedded; cluster too when the real servers are given. */
export const modes: Array<"embedded" | "cluster"> = cluster ? ["embedded", "cluster"] : ["embedded"];

export interface TestPlatform extends RunningPlatform {
  mode: "embedded" | "cluster";
  /** Posts a contract request built like PSBC builds it; checks every answer against the contract. */
  call(path: string, input: CallInput): Promise<{ status: number; body: ContractBody }>;
  orderRow(code: string): Promise<Record<string, unknown> | undefined>;
  /** What this platform's Redis keys start with (`<prefix>lock:…`, `<prefix>failures:…`). */
  redisKeyPrefix: string;
}

export interface CallInput {
  code?: string;
  mac?: string;
  type?: string;
  /** The service type's AES secret; the sandbox type's unless given. */
  aes?: AesSecret;
  /** Replaces the encrypted request (to send a malformed one). */
  request?: string;
  /** Fields merged into the JSON body last (to break the envelope). */
  body?: Record<string, unknown>;
}

export interface ContractBody {
  code: number;
  msg: string;
  traceId: string;
  data?: Record<string, unknown>;
}

export async function startTestPlatform(
  mode: "embedded" | "cluster",
  /** `natsUrl`: a NATS of the test's own in the cluster mode (its durables then see no other test file's events). */
  options: { upstreamTimeoutMs?: number; natsUrl?: string; clock?: Clock; services?: readonly AnyServiceDescriptor[] } = {},
): Promise<TestPlatform> {
  const database = mode === "cluster" ? await testDatabase() : undefined;
  // Locks and failure counts of this platform's own in the shared Redis: another test file's leases and
  // throttled clients are not this one's.
  const redisKeyPrefix = `rights:test-${randomBytes(4).toString("hex")}:`;
  const platform = await startPlatform({
    logger: createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent"),
    databaseUrl: database?.url,
    redisUrl: mode === "cluster" ? process.env.REDIS_URL : undefined,
    redisKeyPrefix,
    natsUrl: mode === "cluster" ? (options.natsUrl ?? process.env.NATS_URL) : undefined,
    sandboxAes: SANDBOX_AES,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 1000,
    clock: options.clock,
    services: options.services,
  });
  return {
    ...platform,
    mode,
    redisKeyPrefix,
    async close() {
      await platform.close();
      await database?.drop();
    },
    async call(path, input) {
      const { status, body } = await postPsbc(platform.gatewayUrl, path, input);
      assertContractResponse(path, status, body);
      return { status, body };
    },
    async orderRow(code) {
      const { rows } = await platform.db.query("SELECT * FROM orders.rights_order WHERE code = $1", [code]);
      return rows[0];
    },
  };
}

export type TestPlatformOptions = NonNullable<Parameters<typeof startTestPlatform>[1]>;

/**
 * The platform a describe block runs against (fastify/demo's `build(t)`): `env` applied and the platform
 * started before its tests, in the cluster mode on a NATS server of its own (its durables then see no other
 * test file's events; a test may stop and start it); after them the platform closed, that NATS stopped and the
 * environment restored.
 */
export function useTestPlatform(
  mode: "embedded" | "cluster",
  options: Omit<TestPlatformOptions, "natsUrl"> & { env?: Record<string, string> } = {},
): { readonly platform: TestPlatform; readonly nats: TestNatsServer | undefined } {
  const { env, ...platformOptions } = options;
  const handle = { platform: undefined as unknown as TestPlatform, nats: undefined as TestNatsServer | undefined };
  const saved = { ...process.env };
  beforeAll(async () => {
    Object.assign(process.env, env);
    handle.nats = mode === "cluster" ? await startTestNatsServer() : undefined;
    handle.platform = await startTestPlatform(mode, { ...platformOptions, natsUrl: handle.nats?.url });
  });
  afterAll(async () => {
    // Started again if a test left it stopped, so that the platform's bus closes cleanly.
    await handle.nats?.resume();
    await handle.platform?.close();
    await handle.nats?.stop();
    process.env = saved;
  });
  return handle;
}

/** A contract request body built as PSBC builds it. */
export function psbcBody(input: CallInput): Record<string, unknown> {
  const type = input.type ?? "310001";
  return {
    type,
    request:
      input.request ??
      encryptRightsRequest({ type, code: input.code ?? "unused", mac: input.mac ?? "customer-0001" }, input.aes ?? SANDBOX_AES),
    channel: "12",
    tranChnl: "12",
    backUrl: "https://mobile.psbc.com/back",
    instType: "01",
    provinceInstNo: "100000",
    ...input.body,
  };
}

export async function postPsbc(gatewayUrl: string, path: string, input: CallInput): Promise<{ status: number; body: ContractBody }> {
  const response = await fetch(`${gatewayUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(psbcBody(input)),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: (await response.json()) as ContractBody };
}

let sequence = 0;
/** A rights code no other test (or earlier run against the same servers) has used. */
export function freshCode(): string {
  sequence += 1;
  return `T${Date.now().toString(36)}${process.pid.toString(36)}${sequence}`.toUpperCase().slice(0, 32);
}

export const PATHS = {
  appointment: "/api/v1/service/appointment",
  cancel: "/api/v1/service/cancel",
  detail: "/api/v1/service/detail",
  expiredPoints: "/api/v1/order/expired-points",
} as const;
