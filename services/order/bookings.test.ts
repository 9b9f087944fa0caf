// The booking use cases on their own: the real OrderStore (PGlite, or PostgreSQL when DATABASE_URL is set), an
// in-memory PSBC behind its port, the voucher service as a fake ServiceImpl over createRouterTransport, the
// in-process lock and a clock the test sets. Each story asserts what the caller is answered, what the order
// holds, and what the upstreams were asked.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { FakePsbc, psbcRejection, psbcTimeout } from "../../test/support/fake-psbc.js";
import { outboxEventsOf } from "../../test/support/outbox-events.js";
import { reasonOf } from "../common/errors.js";
import { UpstreamError } from "../common/upstream-http.js";
import { OrderError, OrderErrorSchema } from "./errors.js";
import { voucherError, VoucherError } from "../voucher/errors.js";
import { KeyRing } from "../common/key-ring.js";
import { createLockService, LeaseLost, type Lease, type LockService } from "../common/lock.js";
import { createLogger } from "../common/logger.js";
import { migrate } from "../common/migrate.js";
import { CHANNELS, INST_TYPES } from "./psbc/envelope.js";
import { encryptRightsRequest, type AesSecret } from "./psbc/rights-request.js";
import { KeyStatus, OrderStatus } from "./statuses.js";
import { PSBC_CODES } from "./psbc/wire.js";
import { OrderBookedSchema, OrderCancelledSchema } from "../../proto/gen/rights/events/v1/events_pb.js";
import { RightsEnvelopeSchema, type RightsEnvelope } from "../../proto/gen/rights/order/v1/order_pb.js";
import { VoucherSchema, VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { Bookings } from "./bookings.js";
import { expireDueOrders, type ExpiryDeps } from "./expiry.js";
import { ORDER_SCHEMA, OrderStore } from "./order-store.js";
import { ServiceTypes, type ServiceType } from "./service-types.js";

const logger = createLogger("bookings-test", "silent");
const DAY_MS = 86_400_000;
const START = new Date("2026-10-20T02:00:00Z");

const TYPE = "310001";
const OTHER_TYPE = "310002";
const STRICT_TYPE = "310003";
const SECRETS: Record<string, AesSecret> = {
  [TYPE]: { key: "type-310001-key!", iv: "type-310001-iv00" },
  [OTHER_TYPE]: { key: "type-310002-key!", iv: "type-310002-iv00" },
  [STRICT_TYPE]: { key: "type-310003-key!", iv: "type-310003-iv00" },
};
const VALIDITY_DAYS = 30;
const EXPIRY_CLAIM_MS = 80_000;
const VOUCHER_TIMEOUT_MS = 8_000;
const PSBC_TIMEOUT_MS = 3_000;
const CUSTOMER = "customer-0001";
const OTHER_CUSTOMER = "customer-0002";

function serviceType(type: string, strictMac = false): ServiceType {
  const secret = SECRETS[type];
  if (!secret) throw new Error(`no secret for type ${type}`);
  return {
    type,
    name: `rights service ${type}`,
    aesKey: secret.key,
    aesIv: secret.iv,
    providerCode: "A101",
    voucherTemplateId: `TPL-${type}`,
    sendChannel: "BLUE_BROTHERS",
    validityDays: VALIDITY_DAYS,
    strictMac,
  };
}

interface Caller {
  type?: string;
  mac?: string;
  /** The key the request is encrypted with; the type's own by default. */
  secret?: AesSecret;
  fields?: Partial<Omit<RightsEnvelope, "$typeName">>;
}

/** A PSBC call about `code` as the gateway passes it on: the request encrypted with the type's key. */
function envelope(code: string, { type = TYPE, mac = CUSTOMER, secret = SECRETS[type], fields = {} }: Caller = {}): RightsEnvelope {
  if (!secret) throw new Error(`no key for type ${type}`);
  return create(RightsEnvelopeSchema, {
    type,
    request: encryptRightsRequest({ type, code, mac }, secret),
    channel: "12",
    tranChnl: "17",
    instType: "01",
    provinceInstNo: "11000000",
    backUrl: "https://app.psbc.example/back",
    ...fields,
  });
}

const tag = randomBytes(3).toString("hex");
let sequence = 0;
const newCode = () => `C-${tag}-${(sequence += 1)}`;

/** The business reason a use case failed with; fails the test if it succeeded. */
async function reasonOfFailure(call: Promise<unknown>): Promise<OrderError | undefined> {
  try {
    await call;
  } catch (err) {
    return reasonOf(err, OrderErrorSchema);
  }
  throw new Error("expected the use case to fail");
}

type VoucherOperation = "issueVoucher" | "voidVoucher" | "expireVoucher";

/**
 * The voucher service as Bookings reaches it over RPC: one voucher per order number (a repeat answers it
 * again), void idempotent, a redeemed voucher refused with SERVICE_IN_EFFECT, none with ORDER_NOT_FOUND; and
 * the next calls of an operation failing as a test scripts.
 */
class FakeVoucherService {
  readonly issues: Array<{ orderNo: string; templateId: string; rightsCode: string; customerRef: string; validUntil: Date | undefined }> = [];
  readonly voids: string[] = [];
  readonly expiries: string[] = [];
  /** The deadline each issue call arrived with (the time it had left). */
  readonly issueTimeouts: Array<number | undefined> = [];
  readonly voidTimeouts: Array<number | undefined> = [];
  private readonly vouchers = new Map<string, { voucherNo: string; url: string; keyStatus: KeyStatus }>();
  private readonly failures: Record<VoucherOperation, unknown[]> = { issueVoucher: [], voidVoucher: [], expireVoucher: [] };
  private readonly steps: Record<VoucherOperation, Array<() => Promise<void>>> = { issueVoucher: [], voidVoucher: [], expireVoucher: [] };

  failNext(op: VoucherOperation, error: unknown): void {
    this.failures[op].push(error);
  }

  /** Runs `step` when the next call of `op` arrives, before it is answered: what happens while it is in flight. */
  beforeNext(op: VoucherOperation, step: () => Promise<void>): void {
    this.steps[op].push(step);
  }

  keyStatusOf(orderNo: string): KeyStatus | undefined {
    return this.vouchers.get(orderNo)?.keyStatus;
  }

  /** The customer redeemed the order's voucher at the send channel. */
  redeem(orderNo: string): void {
    const voucher = this.vouchers.get(orderNo);
    if (!voucher) throw new Error(`no voucher for ${orderNo}`);
    voucher.keyStatus = KeyStatus.REDEEMED;
  }

  urlOf(orderNo: string): string | undefined {
    return this.vouchers.get(orderNo)?.url;
  }

  readonly impl: Partial<ServiceImpl<typeof VoucherService>> = {
    issueVoucher: async ({ orderNo, templateId, rightsCode, customerRef, validUntil }, context) => {
      this.issues.push({ orderNo, templateId, rightsCode, customerRef, validUntil: validUntil && timestampDate(validUntil) });
      this.issueTimeouts.push(context.timeoutMs());
      await this.steps.issueVoucher.shift()?.();
      this.failIfScripted("issueVoucher");
      let voucher = this.vouchers.get(orderNo);
      if (voucher?.keyStatus === KeyStatus.VOIDED) throw voucherError(VoucherError.VOIDED, "voucher voided");
      if (!voucher) {
        const voucherNo = `BB${String(this.vouchers.size + 1).padStart(6, "0")}`;
        voucher = { voucherNo, url: `https://bb.example/redeem/${voucherNo}`, keyStatus: KeyStatus.NORMAL };
        this.vouchers.set(orderNo, voucher);
      }
      return { voucher: create(VoucherSchema, { orderNo, ...voucher, sendChannel: "BLUE_BROTHERS", templateId }) };
    },
    voidVoucher: ({ orderNo }, context) => {
      this.voids.push(orderNo);
      this.voidTimeouts.push(context.timeoutMs());
      return this.end(orderNo, "voidVoucher", KeyStatus.VOIDED);
    },
    expireVoucher: ({ orderNo }) => {
      this.expiries.push(orderNo);
      return this.end(orderNo, "expireVoucher", KeyStatus.EXPIRED);
    },
  };

  /** Voids or expires the order's voucher as the voucher service does: never one the customer redeemed. */
  private end(orderNo: string, op: "voidVoucher" | "expireVoucher", keyStatus: KeyStatus) {
    this.failIfScripted(op);
    const voucher = this.vouchers.get(orderNo);
    if (!voucher) throw voucherError(VoucherError.NOT_FOUND, `no voucher for order ${orderNo}`);
    if (voucher.keyStatus === KeyStatus.REDEEMED) throw voucherError(VoucherError.REDEEMED, "voucher redeemed");
    voucher.keyStatus = keyStatus;
    return { voucher: create(VoucherSchema, { orderNo, ...voucher }) };
  }

  private failIfScripted(op: VoucherOperation): void {
    if (this.failures[op].length > 0) throw this.failures[op].shift();
  }
}

/** The in-process lock, whose leases a test can take away as if the holder had paused past their TTL. */
class RevocableLock implements LockService {
  private readonly held = new Set<{ revoked: boolean }>();

  constructor(private readonly inner: LockService) {}

  async acquire(key: string, options: { ttlMs: number; waitMs: number }): Promise<Lease | null> {
    const lease = await this.inner.acquire(key, options);
    if (!lease) return null;
    const state = { revoked: false };
    this.held.add(state);
    return {
      signal: lease.signal,
      assertHeld: () => {
        if (state.revoked) throw new LeaseLost(key);
        lease.assertHeld();
      },
      release: async () => {
        this.held.delete(state);
        await lease.release();
      },
    };
  }

  revokeAll(): void {
    for (const state of this.held) state.revoked = true;
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

describe(`Bookings (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}, fake PSBC and voucher service)`, () => {
  let t: TestDatabase;
  let orders: OrderStore;
  let serviceTypes: ServiceTypes;
  let lock: RevocableLock;
  // Fresh for every story.
  let psbc: FakePsbc;
  let vouchers: FakeVoucherService;
  let eventsWritten: number;
  let now: Date;
  let bookings: Bookings;
  let expiry: ExpiryDeps;

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: ORDER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)), logger });
    // The store stamps business times by the story's clock, like Bookings.
    orders = new OrderStore(t.db, { now: () => now });
    serviceTypes = new ServiceTypes({ db: t.db, keys: new KeyRing(randomBytes(32)), logger });
    for (const type of [serviceType(TYPE), serviceType(OTHER_TYPE), serviceType(STRICT_TYPE, true)]) await serviceTypes.put(type);
    lock = new RevocableLock(createLockService({ logger }));
  });

  afterAll(async () => {
    await lock?.close();
    await t?.drop();
  });

  beforeEach(() => {
    psbc = new FakePsbc();
    vouchers = new FakeVoucherService();
    eventsWritten = 0;
    now = START;
    const voucherClient = createClient(VoucherService, createRouterTransport((router) => router.service(VoucherService, vouchers.impl)));
    bookings = new Bookings({
      serviceTypes,
      orders,
      lock,
      psbc,
      vouchers: voucherClient,
      voucherTimeoutMs: VOUCHER_TIMEOUT_MS,
      psbcTimeoutMs: PSBC_TIMEOUT_MS,
      logger,
      eventsWritten: () => void (eventsWritten += 1),
      now: () => now,
    });
    expiry = { orders, vouchers: voucherClient, lock, logger, eventsWritten: () => void (eventsWritten += 1), claimMs: EXPIRY_CLAIM_MS };
  });

  const eventsOf = (orderNo: string) => outboxEventsOf(t.db, ORDER_SCHEMA, orderNo, [OrderBookedSchema, OrderCancelledSchema]);
  const subjectsOf = async (orderNo: string) => (await eventsOf(orderNo)).map((entry) => entry.subject);
  const stored = async (code: string) => {
    const order = await orders.findByCode(code);
    if (!order) throw new Error(`no order for ${code}`);
    return order;
  };

  describe("appointment (服务预约)", () => {
    it("books a fresh code at PSBC, issues its voucher, and answers the voucher URL", async () => {
      const code = newCode();
      const order = await bookings.book(envelope(code));

      expect(order).toMatchObject({
        code,
        type: TYPE,
        mac: CUSTOMER,
        backUrl: "https://app.psbc.example/back",
        status: OrderStatus.BOOKED,
        keyStatus: KeyStatus.NORMAL,
        voucherUrl: vouchers.urlOf(order.orderNo),
        expireAt: new Date(START.getTime() + VALIDITY_DAYS * DAY_MS),
      });
      expect(psbc.callsOf("bookService")).toEqual([
        { orderNo: order.orderNo, code, type: TYPE, mac: CUSTOMER, channel: "12", tranChnl: "17", instType: "01", provinceInstNo: "11000000" },
      ]);
      expect(vouchers.issues).toEqual([
        // The code is valid as long as the booking's rights.
        { orderNo: order.orderNo, templateId: `TPL-${TYPE}`, rightsCode: code, customerRef: CUSTOMER, validUntil: order.expireAt },
      ]);
      expect(eventsWritten).toBe(1);
      expect(await eventsOf(order.orderNo)).toEqual([
        { subject: "order.booked", event: expect.objectContaining({ orderNo: order.orderNo, code, type: TYPE, voucherNo: order.voucherNo }) as unknown },
      ]);
    });

    it("answers a repeated appointment with the same order, asking no upstream again", async () => {
      const code = newCode();
      const first = await bookings.book(envelope(code));
      const again = await bookings.book(envelope(code));

      expect(again).toEqual(first);
      expect(psbc.calls).toHaveLength(1);
      expect(vouchers.issues).toHaveLength(1);
      expect(await subjectsOf(first.orderNo)).toEqual(["order.booked"]);
    });

    it("resumes after PSBC booked and the voucher issue failed: the retry only issues the voucher", async () => {
      const code = newCode();
      vouchers.failNext("issueVoucher", voucherError(VoucherError.CHANNEL_FAILED, "send channel timed out"));

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);
      const halfway = await stored(code);
      expect(halfway).toMatchObject({ status: OrderStatus.NOT_BOOKED, voucherUrl: null, bookingRefusedAt: null });
      expect(halfway.psbcBookedAt).not.toBeNull();
      expect(await subjectsOf(halfway.orderNo)).toEqual([]);

      const order = await bookings.book(envelope(code));
      expect(order).toMatchObject({ orderNo: halfway.orderNo, status: OrderStatus.BOOKED, voucherUrl: vouchers.urlOf(halfway.orderNo) });
      expect(psbc.callsOf("bookService")).toHaveLength(1);
      expect(vouchers.issues.map((issue) => issue.orderNo)).toEqual([order.orderNo, order.orderNo]);
    });

    it("books at PSBC again after a PSBC timeout, with the same order number", async () => {
      const code = newCode();
      psbc.failNext("bookService", psbcTimeout("bookService"));

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.NOT_BOOKED, psbcBookedAt: null, bookingRefusedAt: null });
      expect(vouchers.issues).toEqual([]);

      const order = await bookings.book(envelope(code));
      expect(order.status).toBe(OrderStatus.BOOKED);
      expect(psbc.callsOf("bookService").map((call) => call.orderNo)).toEqual([order.orderNo, order.orderNo]);
    });

    it("resumes a booking PSBC did not answer with the request it was begun with, the one the order keeps", async () => {
      const code = newCode();
      psbc.failNext("bookService", psbcTimeout("bookService"));
      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);

      const retry = envelope(code, { mac: OTHER_CUSTOMER, fields: { channel: "41", tranChnl: "41", instType: "02", provinceInstNo: "31000000" } });
      const order = await bookings.book(retry);
      expect(order).toMatchObject({ status: OrderStatus.BOOKED, mac: CUSTOMER });
      const first = { mac: CUSTOMER, channel: "12", tranChnl: "17", instType: "01", provinceInstNo: "11000000" };
      expect(psbc.callsOf("bookService").map(({ mac, channel, tranChnl, instType, provinceInstNo }) => ({ mac, channel, tranChnl, instType, provinceInstNo }))).toEqual([first, first]);
      // What the reconciliation ledger reads is what PSBC booked.
      const { rows } = await t.db.query<{ channel: string; tran_chnl: string; inst_type: string; province_inst_no: string }>(
        "SELECT channel, tran_chnl, inst_type, province_inst_no FROM orders.rights_order WHERE code = $1",
        [code],
      );
      expect(rows).toEqual([{ channel: "12", tran_chnl: "17", inst_type: "01", province_inst_no: "11000000" }]);
    });

    it("gives the voucher call what the caller's deadline leaves, its own deadline at most", async () => {
      psbc.beforeNext("bookService", () => sleep(600));
      expect((await bookings.book(envelope(newCode()), 1_500)).status).toBe(OrderStatus.BOOKED);
      // 1.5 s, less PSBC's 0.6 s and the half second kept for the last statement and the answer.
      expect(vouchers.issueTimeouts[0]).toBeGreaterThan(0);
      expect(vouchers.issueTimeouts[0]).toBeLessThanOrEqual(400);

      expect((await bookings.book(envelope(newCode()), 60_000)).status).toBe(OrderStatus.BOOKED);
      expect((await bookings.book(envelope(newCode()))).status).toBe(OrderStatus.BOOKED);
      for (const timeoutMs of vouchers.issueTimeouts.slice(1)) {
        expect(timeoutMs).toBeLessThanOrEqual(VOUCHER_TIMEOUT_MS);
        expect(timeoutMs).toBeGreaterThan(VOUCHER_TIMEOUT_MS - 1_000);
      }
    });

    it("restarts a booking PSBC refused for good with the next appointment's own request", async () => {
      const code = newCode();
      psbc.failNext("bookService", psbcRejection("bookService", PSBC_CODES.PARAMETER_INVALID));

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);
      expect((await stored(code)).bookingRefusedAt).not.toBeNull();

      const retry = envelope(code, { mac: OTHER_CUSTOMER, fields: { provinceInstNo: "31000000", backUrl: "https://app.psbc.example/again" } });
      const order = await bookings.book(retry);
      expect(order).toMatchObject({ status: OrderStatus.BOOKED, mac: OTHER_CUSTOMER, backUrl: "https://app.psbc.example/again", bookingRefusedAt: null });
      expect(psbc.callsOf("bookService").map(({ mac, provinceInstNo }) => ({ mac, provinceInstNo }))).toEqual([
        { mac: CUSTOMER, provinceInstNo: "11000000" },
        { mac: OTHER_CUSTOMER, provinceInstNo: "31000000" },
      ]);
    });

    it("keeps PSBC's refusal and restarts the booking even when PSBC's message holds a NUL, which PostgreSQL refuses", async () => {
      const code = newCode();
      psbc.failNext("bookService", new UpstreamError("rejected", "psbc", "bookService", PSBC_CODES.SERVICE_STATE_INVALID, "state\u0000invalid"));

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);
      const { rows } = await t.db.query<{ last_error: string; booking_refused_at: Date | null }>(
        `SELECT last_error, booking_refused_at FROM ${ORDER_SCHEMA}.rights_order WHERE code = $1`,
        [code],
      );
      expect(rows[0]?.last_error).toContain("stateinvalid");
      expect(rows[0]?.booking_refused_at).not.toBeNull();
      expect((await bookings.book(envelope(code, { mac: OTHER_CUSTOMER }))).status).toBe(OrderStatus.BOOKED);
    });

    it.each([
      ["the send channel refused for good", VoucherError.CHANNEL_REJECTED],
      ["a make-code quota refused", VoucherError.QUOTA_EXCEEDED],
    ])("restarts only the voucher issue %s, with the new appointment's customer and the envelope PSBC booked", async (_why, reason) => {
      const code = newCode();
      vouchers.failNext("issueVoucher", voucherError(reason, "refused for good"));

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);
      const refused = await stored(code);
      expect(refused).toMatchObject({ status: OrderStatus.NOT_BOOKED, psbcBookedAt: expect.any(Date) as Date, bookingRefusedAt: expect.any(Date) as Date });

      // The refusal may have been of the customer: the new one goes to the voucher. PSBC's booking stands under the
      // first appointment's fields, which the order (what the ledger reads) keeps, whatever the next one brings.
      const order = await bookings.book(envelope(code, { mac: OTHER_CUSTOMER, fields: { provinceInstNo: "12000000", channel: "41" } }));
      expect(order).toMatchObject({ status: OrderStatus.BOOKED, mac: OTHER_CUSTOMER, provinceInstNo: refused.provinceInstNo, channel: refused.channel, bookingRefusedAt: null });
      expect(psbc.callsOf("bookService")).toHaveLength(1);
      expect(vouchers.issues.map((issue) => issue.customerRef)).toEqual([CUSTOMER, OTHER_CUSTOMER]);
    });

    it("stops before the voucher issue once its lease on the code is lost, and the retry finishes the booking", async () => {
      const code = newCode();
      psbc.beforeNext("bookService", () => lock.revokeAll());

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.REQUEST_IN_PROGRESS);
      expect(vouchers.issues).toEqual([]);
      expect((await stored(code)).psbcBookedAt).not.toBeNull();

      const order = await bookings.book(envelope(code));
      expect(order.status).toBe(OrderStatus.BOOKED);
      expect(psbc.callsOf("bookService")).toHaveLength(1);
      expect(vouchers.issues).toHaveLength(1);
    });

    it("records the voucher it issued though its lease on the code ran out during the issue: the voucher is never left live and unanswered", async () => {
      const code = newCode();
      vouchers.beforeNext("issueVoucher", async () => lock.revokeAll());

      const order = await bookings.book(envelope(code));
      expect(order).toMatchObject({ status: OrderStatus.BOOKED, voucherUrl: expect.any(String) as string });
      expect(vouchers.issues).toHaveLength(1);
    });

    it("leaves unbooked an order whose voucher a cancel voided while a booking that lost its lease was issuing it", async () => {
      const code = newCode();
      vouchers.beforeNext("issueVoucher", async () => {
        lock.revokeAll();
        const order = await orders.findByCode(code);
        await orders.recordVoucherVoided(order!.orderNo); // the cancel's first step, under the lock it took over
      });

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.REQUEST_IN_PROGRESS);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.NOT_BOOKED, voucherUrl: null, voucherVoidedAt: expect.any(Date) as Date });
      // The retry sees the cancel under way.
      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.SERVICE_CANCELLED);
    });

    it("refuses to book a cancelled code again: 服务已取消", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      await bookings.cancel(envelope(code));

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.SERVICE_CANCELLED);
      expect(psbc.callsOf("bookService")).toHaveLength(1);
      expect(vouchers.issues).toHaveLength(1);
    });

    it("answers 暂不支持此服务 for an unknown service type, storing nothing", async () => {
      const code = newCode();
      const unknownType = envelope(code, { type: "999999", secret: SECRETS[TYPE] });

      expect(await reasonOfFailure(bookings.book(unknownType))).toBe(OrderError.SERVICE_NOT_SUPPORTED);
      expect(await orders.findByCode(code)).toBeUndefined();
      expect(psbc.calls).toEqual([]);
    });
  });

  describe("cancel (服务取消)", () => {
    it("gives the void what the caller's deadline leaves after PSBC's cancel, its own deadline at most", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      psbc.beforeNext("queryServiceStatus", () => sleep(600));
      expect((await bookings.cancel(envelope(code), 5_000)).status).toBe(OrderStatus.CANCELLED);
      // 5 s, less PSBC's 0.6 s, the 3 s kept for PSBC's cancel, and the half second for the last statement.
      expect(vouchers.voidTimeouts[0]).toBeGreaterThan(0);
      expect(vouchers.voidTimeouts[0]).toBeLessThanOrEqual(900);

      const other = newCode();
      await bookings.book(envelope(other));
      expect((await bookings.cancel(envelope(other))).status).toBe(OrderStatus.CANCELLED);
      expect(vouchers.voidTimeouts[1]).toBeLessThanOrEqual(VOUCHER_TIMEOUT_MS);
      expect(vouchers.voidTimeouts[1]).toBeGreaterThan(VOUCHER_TIMEOUT_MS - 1_000);
    });

    it("cancels a booked service: PSBC's status, the voucher voided, PSBC's cancel, status 400", async () => {
      const code = newCode();
      const booked = await bookings.book(envelope(code));
      const order = await bookings.cancel(envelope(code));

      expect(order).toMatchObject({ orderNo: booked.orderNo, status: OrderStatus.CANCELLED, keyStatus: KeyStatus.VOIDED });
      expect(psbc.calls.map((call) => call.op)).toEqual(["bookService", "queryServiceStatus", "cancelService"]);
      expect(psbc.callsOf("cancelService")).toEqual([{ orderNo: booked.orderNo, code, type: TYPE }]);
      expect(psbc.statusOf(code)).toBe("CANCELLED");
      expect(vouchers.voids).toEqual([booked.orderNo]);
      expect(eventsWritten).toBe(2);
      expect(await subjectsOf(booked.orderNo)).toEqual(["order.booked", "order.cancelled"]);
    });

    it("answers a repeated cancel with 服务已取消, asking no upstream", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      await bookings.cancel(envelope(code));
      const callsBefore = psbc.calls.length;

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.SERVICE_CANCELLED);
      expect(psbc.calls).toHaveLength(callsBefore);
      expect(vouchers.voids).toHaveLength(1);
    });

    it("voids the voucher and cancels the order without a PSBC cancel when PSBC holds no booking of the code", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      psbc.setStatus(code, "NOT_FOUND");

      expect((await bookings.cancel(envelope(code))).status).toBe(OrderStatus.CANCELLED);
      expect(psbc.callsOf("cancelService")).toEqual([]);
      expect(vouchers.voids).toHaveLength(1);
    });

    it("cancels the order all the same when PSBC's cancel answers 服务未预约", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      psbc.failNext("cancelService", psbcRejection("cancelService", PSBC_CODES.SERVICE_NOT_BOOKED));

      expect((await bookings.cancel(envelope(code))).status).toBe(OrderStatus.CANCELLED);
      expect(psbc.callsOf("cancelService")).toHaveLength(1);
    });

    it("resumes a cancel stopped after the void: the retry cancels at PSBC without voiding again", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      psbc.failNext("cancelService", psbcRejection("cancelService"));

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.BOOKED, keyStatus: KeyStatus.VOIDED, psbcCancelledAt: null });
      // Voided but not yet cancelled: nobody may book it again, nor be handed its URL.
      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.SERVICE_CANCELLED);
      expect(await reasonOfFailure(bookings.detail(envelope(code)))).toBe(OrderError.SERVICE_CANCELLED);

      expect((await bookings.cancel(envelope(code))).status).toBe(OrderStatus.CANCELLED);
      expect(vouchers.voids).toHaveLength(1);
      expect(psbc.callsOf("cancelService")).toHaveLength(2);
    });

    it("keeps the order booked when the voucher void fails, and the retry cancels it", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      vouchers.failNext("voidVoucher", voucherError(VoucherError.CHANNEL_FAILED, "send channel timed out"));

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.UPSTREAM_FAILED);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.BOOKED, keyStatus: KeyStatus.NORMAL, voucherVoidedAt: null });
      expect(psbc.callsOf("cancelService")).toEqual([]);

      expect((await bookings.cancel(envelope(code))).status).toBe(OrderStatus.CANCELLED);
    });

    it("expires the order, its voucher voided first, when PSBC reports the code expired", async () => {
      const code = newCode();
      const booked = await bookings.book(envelope(code));
      psbc.setStatus(code, "EXPIRED");

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.SERVICE_EXPIRED);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.EXPIRED, keyStatus: KeyStatus.VOIDED });
      expect(vouchers.voids).toEqual([booked.orderNo]);
      expect(psbc.callsOf("cancelService")).toEqual([]);
      expect(await reasonOfFailure(bookings.detail(envelope(code)))).toBe(OrderError.SERVICE_EXPIRED);
    });

    it("answers 服务已生效 for a service PSBC reports completed, voiding nothing", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      psbc.setStatus(code, "COMPLETED");

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.SERVICE_IN_EFFECT);
      expect(vouchers.voids).toEqual([]);
      expect((await stored(code)).status).toBe(OrderStatus.BOOKED);
    });

    it("answers 服务已生效 once the voucher turns out redeemed, and from then on without asking an upstream", async () => {
      const code = newCode();
      const booked = await bookings.book(envelope(code));
      vouchers.redeem(booked.orderNo);

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.SERVICE_IN_EFFECT);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.BOOKED, keyStatus: KeyStatus.REDEEMED, voucherVoidedAt: null });
      const callsBefore = psbc.calls.length;

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.SERVICE_IN_EFFECT);
      expect(psbc.calls).toHaveLength(callsBefore);
      expect(vouchers.voids).toHaveLength(1);
      expect(psbc.callsOf("cancelService")).toEqual([]);
    });

    it("cancels a booking stopped half-way (booked at PSBC, no voucher), so PSBC does not keep it", async () => {
      const code = newCode();
      vouchers.failNext("issueVoucher", voucherError(VoucherError.CHANNEL_FAILED, "send channel timed out"));
      await reasonOfFailure(bookings.book(envelope(code)));

      expect((await bookings.cancel(envelope(code))).status).toBe(OrderStatus.CANCELLED);
      expect(psbc.statusOf(code)).toBe("CANCELLED");
    });

    it("answers 服务未预约 for a code never booked anywhere, asking PSBC nothing", async () => {
      const code = newCode();
      psbc.failNext("bookService", psbcTimeout("bookService"));
      await reasonOfFailure(bookings.book(envelope(code)));

      expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.SERVICE_NOT_BOOKED);
      expect(psbc.callsOf("queryServiceStatus")).toEqual([]);
      expect(vouchers.voids).toEqual([]);
    });

    it("answers 订单不存在 for a code without an order", async () => {
      expect(await reasonOfFailure(bookings.cancel(envelope(newCode())))).toBe(OrderError.ORDER_NOT_FOUND);
      expect(psbc.calls).toEqual([]);
    });
  });

  describe("detail (服务详情)", () => {
    it("answers the live voucher's URL", async () => {
      const code = newCode();
      const booked = await bookings.book(envelope(code));

      expect(await bookings.detail(envelope(code))).toMatchObject({ orderNo: booked.orderNo, voucherUrl: vouchers.urlOf(booked.orderNo) });
    });

    it("answers 订单不存在 for an unknown code and for a booking without its voucher yet", async () => {
      const code = newCode();
      expect(await reasonOfFailure(bookings.detail(envelope(code)))).toBe(OrderError.ORDER_NOT_FOUND);
      vouchers.failNext("issueVoucher", voucherError(VoucherError.CHANNEL_FAILED, "send channel timed out"));
      await reasonOfFailure(bookings.book(envelope(code)));

      expect(await reasonOfFailure(bookings.detail(envelope(code)))).toBe(OrderError.ORDER_NOT_FOUND);
    });

    it("answers 服务已取消 instead of a cancelled order's voided URL", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      await bookings.cancel(envelope(code));

      expect(await reasonOfFailure(bookings.detail(envelope(code)))).toBe(OrderError.SERVICE_CANCELLED);
    });

    it("answers 服务已过期 past the order's date before the expiry job has come to it, and leaves the order to that job", async () => {
      const code = newCode();
      await bookings.book(envelope(code));
      now = new Date(START.getTime() + VALIDITY_DAYS * DAY_MS);

      expect(await reasonOfFailure(bookings.detail(envelope(code)))).toBe(OrderError.SERVICE_EXPIRED);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.BOOKED, keyStatus: KeyStatus.NORMAL });
    });

    it("still answers a redeemed voucher's URL past the order's date: the service was used, and the expiry job leaves it", async () => {
      const code = newCode();
      const booked = await bookings.book(envelope(code));
      await orders.recordVoucherRedeemed(booked.orderNo, new Date(START.getTime() + DAY_MS));
      now = new Date(START.getTime() + VALIDITY_DAYS * DAY_MS);

      expect(await bookings.detail(envelope(code))).toMatchObject({ orderNo: booked.orderNo, voucherUrl: vouchers.urlOf(booked.orderNo) });
    });
  });

  describe("expired points (订单过期积分查询)", () => {
    it("passes PSBC's answer through, for a code with or without an order", async () => {
      psbc.expiredPoints = { tranIntglNum: 500, ovdueIntglNum: 200, noticeMsg: "您有200幸福点已过期取消后将无法退回" };
      const booked = newCode();
      await bookings.book(envelope(booked));
      const unbooked = newCode();

      expect(await bookings.expiredPoints(envelope(booked))).toEqual(psbc.expiredPoints);
      expect(await bookings.expiredPoints(envelope(unbooked))).toEqual(psbc.expiredPoints);
      expect(psbc.callsOf("queryExpiredPoints")).toEqual([
        { code: booked, type: TYPE, mac: CUSTOMER },
        { code: unbooked, type: TYPE, mac: CUSTOMER },
      ]);
    });

    it("answers UPSTREAM_FAILED when PSBC fails", async () => {
      psbc.failNext("queryExpiredPoints", psbcTimeout("queryExpiredPoints"));

      expect(await reasonOfFailure(bookings.expiredPoints(envelope(newCode())))).toBe(OrderError.UPSTREAM_FAILED);
    });
  });

  describe("expiry by date", () => {
    it("a booked service expires once its type's validity has passed since the appointment", async () => {
      const validityMs = VALIDITY_DAYS * DAY_MS;
      const elapsed = fc.oneof(fc.integer({ min: 0, max: 2 * validityMs }), fc.integer({ min: validityMs - 2_000, max: validityMs + 2_000 }));
      await fc.assert(
        fc.asyncProperty(elapsed, async (elapsedMs) => {
          now = START;
          const code = newCode();
          await bookings.book(envelope(code));
          const statusQueries = psbc.callsOf("queryServiceStatus").length;
          now = new Date(START.getTime() + elapsedMs);

          if (elapsedMs < validityMs) {
            expect((await bookings.cancel(envelope(code))).status).toBe(OrderStatus.CANCELLED);
            return;
          }
          expect(await reasonOfFailure(bookings.cancel(envelope(code)))).toBe(OrderError.SERVICE_EXPIRED);
          expect((await stored(code)).status).toBe(OrderStatus.EXPIRED);
          expect(psbc.callsOf("queryServiceStatus")).toHaveLength(statusQueries);
          expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.SERVICE_EXPIRED);
        }),
        { numRuns: 20 },
      );
    });

    it("answers 服务已过期 to the retry of a booking stopped half-way past its date", async () => {
      const code = newCode();
      vouchers.failNext("issueVoucher", voucherError(VoucherError.CHANNEL_FAILED, "send channel timed out"));
      await reasonOfFailure(bookings.book(envelope(code)));
      now = new Date(START.getTime() + VALIDITY_DAYS * DAY_MS);

      expect(await reasonOfFailure(bookings.book(envelope(code)))).toBe(OrderError.SERVICE_EXPIRED);
      expect(vouchers.issues).toHaveLength(1);
      expect((await stored(code)).status).toBe(OrderStatus.EXPIRED);
    });

    it("lets the retry of a half-way booking issuing its voucher as the date passes finish, and only then expires it", async () => {
      const code = newCode();
      vouchers.failNext("issueVoucher", voucherError(VoucherError.CHANNEL_FAILED, "send channel timed out"));
      await reasonOfFailure(bookings.book(envelope(code)));
      const { orderNo, expireAt } = await stored(code);
      now = new Date(expireAt.getTime() - 1_000);
      // While the retry's voucher is being made, the date passes and the expiry job runs: it claims the order.
      vouchers.beforeNext("issueVoucher", async () => {
        now = expireAt;
        await expireDueOrders(expiry, 100);
      });

      const order = await bookings.book(envelope(code));
      expect(order).toMatchObject({ orderNo, status: OrderStatus.BOOKED, keyStatus: KeyStatus.NORMAL });

      // Its claim lapsed, the next round expires the order and the voucher it now has.
      now = new Date(expireAt.getTime() + EXPIRY_CLAIM_MS);
      await expireDueOrders(expiry, 100);
      expect(await stored(code)).toMatchObject({ status: OrderStatus.EXPIRED, keyStatus: KeyStatus.EXPIRED });
      expect(vouchers.expiries.filter((expired) => expired === orderNo)).toEqual([orderNo]);
      expect(vouchers.keyStatusOf(orderNo)).toBe(KeyStatus.EXPIRED);
    });
  });

  describe("an order belongs to its service type and, where strict, to its customer", () => {
    const operations = {
      book: { call: (b: Bookings, e: RightsEnvelope) => b.book(e), refusal: OrderError.SERVICE_NOT_SUPPORTED },
      cancel: { call: (b: Bookings, e: RightsEnvelope) => b.cancel(e), refusal: OrderError.ORDER_NOT_FOUND },
      detail: { call: (b: Bookings, e: RightsEnvelope) => b.detail(e), refusal: OrderError.ORDER_NOT_FOUND },
      expiredPoints: { call: (b: Bookings, e: RightsEnvelope) => b.expiredPoints(e), refusal: OrderError.SERVICE_NOT_SUPPORTED },
    };
    const outsiders: Record<string, Caller> = {
      "another service type, with its own key": { type: OTHER_TYPE },
      "another customer of a strict type": { type: STRICT_TYPE, mac: OTHER_CUSTOMER },
    };

    it("refuses every call of an outsider with the answer to a code it has no order for, changing nothing", async () => {
      const outsiderCalls = fc.array(
        fc.record({ operation: fc.constantFrom(...(Object.keys(operations) as Array<keyof typeof operations>)), outsider: fc.constantFrom(...Object.keys(outsiders)) }),
        { minLength: 1, maxLength: 6 },
      );
      await fc.assert(
        fc.asyncProperty(outsiderCalls, async (calls) => {
          const code = newCode();
          await bookings.book(envelope(code, { type: STRICT_TYPE }));
          const before = await stored(code);
          const upstreamCalls = { psbc: psbc.calls.length, issues: vouchers.issues.length, voids: vouchers.voids.length };

          for (const { operation, outsider } of calls) {
            const { call, refusal } = operations[operation];
            expect(await reasonOfFailure(call(bookings, envelope(code, outsiders[outsider])))).toBe(refusal);
          }
          expect(await stored(code)).toEqual(before);
          expect({ psbc: psbc.calls.length, issues: vouchers.issues.length, voids: vouchers.voids.length }).toEqual(upstreamCalls);
        }),
        { numRuns: 15 },
      );
    });

    it("lets another customer reach an order of a type that is not strict", async () => {
      const code = newCode();
      const booked = await bookings.book(envelope(code));

      expect((await bookings.detail(envelope(code, { mac: OTHER_CUSTOMER }))).orderNo).toBe(booked.orderNo);
    });
  });

  describe("bad input", () => {
    const otherKey: AesSecret = { key: "not-the-type-key", iv: "not-the-type-iv!" };
    const badField = fc.oneof(
      fc.record({ channel: fc.string().filter((value) => !(CHANNELS as readonly string[]).includes(value)) }),
      fc.record({ tranChnl: fc.string().filter((value) => !(CHANNELS as readonly string[]).includes(value)) }),
      fc.record({ instType: fc.string().filter((value) => !(INST_TYPES as readonly string[]).includes(value)) }),
      fc.record({ provinceInstNo: fc.oneof(fc.constant(""), fc.string({ minLength: 21, maxLength: 40 }), fc.constant("110\u0000")) }),
      fc.record({ backUrl: fc.constantFrom("javascript:alert(1)", "https://app.psbc.example/\nback", "ftp://app.psbc.example") }),
      // A request that is not the type's: garbled blocks, or encrypted under another key.
      fc.record({ request: fc.uint8Array({ minLength: 16, maxLength: 64 }).map((bytes) => Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 16))).toString("base64")) }),
      fc.constant({ request: encryptRightsRequest({ type: TYPE, code: "C-any", mac: CUSTOMER }, otherKey) }),
    );

    it("answers PARAMETER_INVALID to an envelope outside the contract, storing and asking nothing", async () => {
      const operation = fc.constantFrom<(e: RightsEnvelope) => Promise<unknown>>(
        (e) => bookings.book(e),
        (e) => bookings.cancel(e),
        (e) => bookings.detail(e),
        (e) => bookings.expiredPoints(e),
      );
      await fc.assert(
        fc.asyncProperty(badField, operation, async (fields, call) => {
          const code = newCode();
          expect(await reasonOfFailure(call(envelope(code, { fields })))).toBe(OrderError.PARAMETER_INVALID);
          expect(await orders.findByCode(code)).toBeUndefined();
          expect(psbc.calls).toEqual([]);
          expect(vouchers.issues).toEqual([]);
        }),
        { numRuns: 60 },
      );
    });
  });
});
