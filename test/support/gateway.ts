import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, expect } from "vitest";
import { buildGateway, type GatewayOptions } from "../../gateway/app.js";
import { OrderService, type RightsEnvelope } from "../../proto/gen/rights/order/v1/order_pb.js";
import { ReconciliationService, type DownloadFileRequest } from "../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Metrics } from "../../services/common/metrics.js";
import { callFailureOf } from "../../services/common/errors.js";
import { asOwnCall } from "../../services/common/rpc-server.js";
import { currentTraceId, TRACE_HEADER } from "../../services/common/trace.js";
import { assertContractErrorEnvelope, assertContractResponse } from "./psbc-contract.js";
import { PATHS } from "./platform.js";

/** The gateway's PSBC routes, as the contract names them. */
export const ROUTES: string[] = [PATHS.appointment, PATHS.cancel, PATHS.expiredPoints, PATHS.detail];

export const CIPHERTEXT = "c2VjcmV0LWNpcGhlcnRleHQtbmV2ZXItbG9nZ2Vk";
export const validBody = {
  type: "310001",
  request: CIPHERTEXT,
  channel: "12",
  tranChnl: "17",
  backUrl: "https://mobile.psbc.com/back",
  instType: "02",
  provinceInstNo: "100000",
};

/** What the fake order service saw of each call. */
interface SeenCall {
  method: string;
  envelope: RightsEnvelope | undefined;
  headerTraceId: string | null;
  contextTraceId: string | undefined;
}

const defaultAnswer = () => ({ url: "https://lsb.example.com/redeem/abc123", backUrl: "https://order.example/back" });

/**
 * The fake order service: answers `answer`, or throws `failure`, after `delayMs`. A GetServiceDetails is seen as
 * one getServiceDetail per call of it, each under its call's traceId (as the order service answers it), and in
 * `batches` by its size; `batchUnimplemented` makes it an older order service without the method. Reset before
 * each test.
 */
export const fakeOrderService = {
  calls: [] as SeenCall[],
  batches: [] as number[],
  failure: undefined as unknown,
  /** A failure for some calls only (by their envelope); `failure`, when set, is every call's. */
  failWhen: undefined as ((envelope: RightsEnvelope | undefined) => unknown) | undefined,
  delayMs: 0,
  batchUnimplemented: false,
  answer: defaultAnswer(),
  reset() {
    this.calls = [];
    this.batches = [];
    this.failure = undefined;
    this.failWhen = undefined;
    this.delayMs = 0;
    this.batchUnimplemented = false;
    this.answer = defaultAnswer();
  },
};

async function serve(method: string, envelope: RightsEnvelope | undefined, headerTraceId: string | null): Promise<void> {
  const fake = fakeOrderService;
  fake.calls.push({ method, envelope, headerTraceId, contextTraceId: currentTraceId() });
  if (fake.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
  const failure = fake.failure ?? fake.failWhen?.(envelope);
  if (failure !== undefined) throw failure;
}

/** The fake order service's own log lines, which the gateway's tests do not read. */
const fakeServiceLogger = pino({ level: "silent" });

const detailAnswer = () => ({ orderNo: "O1", ...fakeOrderService.answer, status: 200, keyStatus: 1 });

const fakeTransport = createRouterTransport((router) => {
  router.service(OrderService, {
    async bookService(req, ctx) {
      await serve("bookService", req.envelope, ctx.requestHeader.get(TRACE_HEADER));
      return { orderNo: "O1", ...fakeOrderService.answer };
    },
    async cancelService(req, ctx) {
      await serve("cancelService", req.envelope, ctx.requestHeader.get(TRACE_HEADER));
      return { orderNo: "O1", status: 400 };
    },
    async queryExpiredPoints(req, ctx) {
      await serve("queryExpiredPoints", req.envelope, ctx.requestHeader.get(TRACE_HEADER));
      return { tranIntglNum: 1000n, ovdueIntglNum: 200n, noticeMsg: "您有200幸福点已过期取消后将无法退回" };
    },
    async getServiceDetail(req, ctx) {
      await serve("getServiceDetail", req.envelope, ctx.requestHeader.get(TRACE_HEADER));
      return detailAnswer();
    },
    async getServiceDetails(req, ctx) {
      if (fakeOrderService.batchUnimplemented) throw new ConnectError("unknown method", Code.Unimplemented);
      fakeOrderService.batches.push(req.calls.length);
      // Each call as the order service answers it, through the same per-call handling.
      const outcomes = req.calls.map(async (call) => {
        const own = { rpc: "rights.order.v1.OrderService/GetServiceDetail", traceId: call.traceId, signal: ctx.signal, logger: fakeServiceLogger };
        const result = await asOwnCall(own, async () => {
          await serve("getServiceDetail", call.envelope, call.traceId);
          return detailAnswer();
        });
        return { outcome: result.ok ? { case: "detail" as const, value: result.value } : { case: "failure" as const, value: callFailureOf(result.error) } };
      });
      return { outcomes: await Promise.all(outcomes) };
    },
  });
});

/** The fake reconciliation service: one file of `content`, or throws `failure`. Reset before each test. */
export const fakeReconciliationService = {
  failure: undefined as unknown,
  content: "\uFEFFa,b\r\n",
  downloads: [] as DownloadFileRequest[],
  reset() {
    this.failure = undefined;
    this.content = "\uFEFFa,b\r\n";
    this.downloads = [];
  },
};

const fakeFile = () => ({
  fileId: "FILE202512A101001",
  fileName: "RIGHTS_SERVICE_CHK_A101_202512.csv",
  fileSize: BigInt(Buffer.byteLength(fakeReconciliationService.content)),
  createTime: timestampFromDate(new Date("2026-01-03T02:00:00Z")),
});

const fakeReconciliationTransport = createRouterTransport((router) => {
  const fake = fakeReconciliationService;
  const failIfAsked = () => {
    if (fake.failure !== undefined) throw fake.failure;
  };
  router.service(ReconciliationService, {
    listFiles() {
      failIfAsked();
      return { files: [fakeFile()] };
    },
    async *downloadFile(req) {
      fake.downloads.push(req);
      failIfAsked();
      yield { part: { case: "file", value: fakeFile() } };
      yield { part: { case: "chunk", value: Buffer.from(fake.content) } };
    },
    batchRepush(req) {
      failIfAsked();
      return { totalCount: req.codes.length, createdCount: req.dryRun ? 0 : req.codes.length, skippedCount: 0 };
    },
  });
});

/** Log lines written by a logger shaped like `createLogger`'s (traceId mixin). Emptied before each test. */
export const logLines: string[] = [];
export const logger = pino(
  {
    level: "debug",
    mixin() {
      const traceId = currentTraceId();
      return traceId ? { traceId } : {};
    },
  },
  { write: (line: string) => void logLines.push(line) },
);
export const logs = () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>);

/** A gateway on the fake order service (overridable), no readiness checks and its own metrics; the caller closes it. */
export function buildTestGateway(overrides: Partial<GatewayOptions> = {}): Promise<FastifyInstance> {
  return buildGateway({
    orderService: createClient(OrderService, fakeTransport),
    reconciliationService: createClient(ReconciliationService, fakeReconciliationTransport),
    readiness: [],
    logger,
    metrics: new Metrics({ processMetrics: false }),
    ...overrides,
  });
}

export interface TestGateway {
  readonly app: FastifyInstance;
  /** Posts a JSON body. */
  post(url: string, payload: unknown): Promise<LightMyRequestResponse>;
}

/**
 * The gateway one test file runs against (fastify/demo's `build(t)`): built before its tests, closed after
 * them; the fake order service and the log are reset before each test.
 */
export function useTestGateway(overrides: Partial<GatewayOptions> = {}): TestGateway {
  const handle = {
    app: undefined as unknown as FastifyInstance,
    post(url: string, payload: unknown) {
      return this.app.inject({ method: "POST", url, payload: payload as object });
    },
  };
  beforeAll(async () => {
    handle.app = await buildTestGateway(overrides);
  });
  afterAll(async () => {
    await handle.app.close();
  });
  beforeEach(() => {
    fakeOrderService.reset();
    fakeReconciliationService.reset();
    logLines.length = 0;
  });
  return handle;
}


export interface Envelope {
  code: number;
  msg: string;
  traceId: string;
  data?: Record<string, unknown>;
}

/** The response body, after checking it against the contract for its path and status. */
export function contractBody(url: string, res: LightMyRequestResponse): Envelope {
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = res.json<Envelope>();
  if (ROUTES.includes(url)) assertContractResponse(url, res.statusCode, body);
  else assertContractErrorEnvelope(res.statusCode, body);
  return body;
}

export function expectAnswer(url: string, res: LightMyRequestResponse, httpStatus: number, code: number, msg: string): Envelope {
  const body = contractBody(url, res);
  expect({ httpStatus: res.statusCode, code: body.code, msg: body.msg }).toEqual({ httpStatus, code, msg });
  return body;
}
