// The voucher use cases on their own: the real VoucherStore (PGlite, or PostgreSQL when DATABASE_URL is set) and
// an in-memory send channel. Each story asserts what the caller is answered, what the store and its outbox hold,
// and what the send channel was asked.
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { outboxEventsOf } from "../../test/support/outbox-events.js";
import { reasonOf } from "../common/errors.js";
import { VoucherError } from "./errors.js";
import { VoucherErrorSchema } from "../../proto/gen/rights/voucher/v1/errors_pb.js";
import { systemClock } from "../common/clock.js";
import { createLogger } from "../common/logger.js";
import { migrate } from "../common/migrate.js";
import { KeyStatus } from "./key-status.js";
import { UpstreamError, type UpstreamErrorKind } from "../common/upstream-http.js";
import { BLUE_BROTHERS_CODES } from "./channels/blue-brothers/wire.js";
import { VoucherIssuedSchema, VoucherRedeemedSchema, VoucherVoidedSchema } from "../../proto/gen/rights/events/v1/events_pb.js";
import { VoucherAlreadyRedeemed, type MadeCode, type SendChannel } from "./channels/send-channel.js";
import { VOUCHER_SCHEMA, VoucherStore } from "./voucher-store.js";
import { Vouchers, type IssueRequest } from "./vouchers.js";

const logger = createLogger("vouchers-test", "silent");
const CHANNEL = "BLUE_BROTHERS";

type ChannelOperation = "issue" | "void";

function channelError(kind: UpstreamErrorKind, op: ChannelOperation): UpstreamError {
  const code = { timeout: "TIMEOUT", unavailable: String(BLUE_BROTHERS_CODES.SERVICE_UNAVAILABLE), rejected: String(BLUE_BROTHERS_CODES.OUT_ORDER_CONFLICT) }[kind];
  return new UpstreamError(kind, "blue-brothers", op, code, "from the fake send channel");
}

/**
 * A send channel in memory, like Blue Brothers: one voucher per outOrderNo, void idempotent, a redeemed voucher
 * refused with VoucherAlreadyRedeemed; and the next calls of an operation failing as a test scripts.
 */
class FakeSendChannel implements SendChannel {
  readonly issues: Array<Parameters<SendChannel["makeCodes"]>[0]> = [];
  readonly voids: Array<Parameters<SendChannel["voidCode"]>[0]> = [];
  private readonly vouchers = new Map<string, { voucherNo: string; url: string; redeemed: boolean }>();
  private readonly failures: Record<ChannelOperation, unknown[]> = { issue: [], void: [] };

  failNext(op: ChannelOperation, error: unknown): void {
    this.failures[op].push(error);
  }

  /** The voucher the channel made for an order, if any. */
  voucherOf(outOrderNo: string): { voucherNo: string; url: string } | undefined {
    return this.vouchers.get(outOrderNo);
  }

  /** The customer redeemed the order's voucher on the channel's page. */
  redeem(outOrderNo: string): void {
    const voucher = this.vouchers.get(outOrderNo);
    if (!voucher) throw new Error(`no voucher for ${outOrderNo}`);
    voucher.redeemed = true;
  }

  async makeCodes(input: Parameters<SendChannel["makeCodes"]>[0]): Promise<MadeCode[]> {
    this.issues.push(input);
    this.failIfScripted("issue");
    let voucher = this.vouchers.get(input.sendChannelOrderId);
    if (!voucher) {
      // Unique across the channel's whole life (the store keeps it unique), not only this fake's.
      const voucherNo = `BB${randomBytes(6).toString("hex").toUpperCase()}`;
      voucher = { voucherNo, url: `https://bb.example/redeem/${voucherNo}`, redeemed: false };
      this.vouchers.set(input.sendChannelOrderId, voucher);
    }
    return [{ code: voucher.voucherNo, url: voucher.url, channelRef: input.sendChannelOrderId }];
  }

  async voidCode(input: Parameters<SendChannel["voidCode"]>[0]): Promise<void> {
    this.voids.push(input);
    this.failIfScripted("void");
    if (this.vouchers.get(input.channelRef)?.redeemed) throw new VoucherAlreadyRedeemed(input.channelRef);
  }

  async queryCode(input: Parameters<SendChannel["queryCode"]>[0]): ReturnType<SendChannel["queryCode"]> {
    return { status: this.vouchers.get(input.channelRef)?.redeemed ? "REDEEMED" : "NORMAL" };
  }

  private failIfScripted(op: ChannelOperation): void {
    if (this.failures[op].length > 0) throw this.failures[op].shift();
  }
}

const tag = randomBytes(3).toString("hex");
let sequence = 0;
function issueRequest(overrides: Partial<IssueRequest> = {}): IssueRequest {
  sequence += 1;
  return { orderNo: `ORD-${tag}-${sequence}`, templateId: "TPL-310001", sendChannel: CHANNEL, rightsCode: `C-${tag}-${sequence}`, customerRef: "customer-0001", ...overrides };
}

/** The business reason a use case failed with; fails the test if it succeeded. */
async function reasonOfFailure(call: Promise<unknown>): Promise<VoucherError | undefined> {
  try {
    await call;
  } catch (err) {
    return reasonOf(err, VoucherErrorSchema);
  }
  throw new Error("expected the use case to fail");
}

describe(`Vouchers (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}, fake send channel)`, () => {
  let t: TestDatabase;
  let store: VoucherStore;
  let channel: FakeSendChannel;
  let eventsWritten: number;
  let vouchers: Vouchers;

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)), logger });
    store = new VoucherStore(t.db);
  });

  afterAll(async () => {
    await t?.drop();
  });

  beforeEach(() => {
    channel = new FakeSendChannel();
    eventsWritten = 0;
    vouchers = new Vouchers({ store, channels: new Map([[CHANNEL, channel]]), clock: systemClock, logger, eventsWritten: () => void (eventsWritten += 1) });
  });

  const eventsOf = (orderNo: string) =>
    outboxEventsOf(t.db, VOUCHER_SCHEMA, orderNo, [VoucherIssuedSchema, VoucherVoidedSchema, VoucherRedeemedSchema]);
  const lastErrorOf = async (orderNo: string) =>
    (await t.db.query<{ last_error: string | null }>(`SELECT last_error FROM vouchers.voucher WHERE order_no = $1`, [orderNo])).rows[0]?.last_error;

  describe("issue", () => {
    it("issues one voucher per order number: a repeat answers it without asking the send channel", async () => {
      const request = issueRequest();
      const issued = await vouchers.issue(request);
      const { voucherNo, url } = channel.voucherOf(request.orderNo) ?? {};

      expect(issued).toMatchObject({
        orderNo: request.orderNo,
        sendChannel: CHANNEL,
        templateId: request.templateId,
        rightsCode: request.rightsCode,
        voucherNo,
        url,
        keyStatus: KeyStatus.NORMAL,
      });
      expect(await vouchers.issue(request)).toEqual(issued);
      expect(channel.issues).toEqual([
        expect.objectContaining({
          sendChannelOrderId: request.orderNo,
          productRef: request.templateId,
          codeNum: 1,
          rightsCode: request.rightsCode,
          customerRef: request.customerRef,
        }),
      ]);
      expect(eventsWritten).toBe(1);
      expect(await eventsOf(request.orderNo)).toEqual([
        { subject: "voucher.issued", event: expect.objectContaining({ orderNo: request.orderNo, voucherNo, sendChannel: CHANNEL }) as unknown },
      ]);
    });

    it("records one voucher and one event when two issues of an order run at once", async () => {
      const request = issueRequest();
      const [first, second] = await Promise.all([vouchers.issue(request), vouchers.issue(request)]);

      expect(second).toEqual(first);
      expect((await eventsOf(request.orderNo)).map((entry) => entry.subject)).toEqual(["voucher.issued"]);
    });

    it("answers PARAMETER_INVALID to a request without an order number, template or rights code, or naming an unknown send channel, storing nothing", async () => {
      const invalid = fc.oneof(
        fc.constantFrom<Partial<IssueRequest>>({ orderNo: "" }, { templateId: "" }, { rightsCode: "" }),
        fc.string().filter((name) => name !== CHANNEL).map((sendChannel) => ({ sendChannel })),
      );
      await fc.assert(
        fc.asyncProperty(invalid, async (overrides) => {
          const request = issueRequest(overrides);
          expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.PARAMETER_INVALID);
          expect(await store.find(request.orderNo)).toBeUndefined();
        }),
        { numRuns: 20 },
      );
      expect(channel.issues).toEqual([]);
    });

    it.each([
      { kind: "timeout", reason: VoucherError.CHANNEL_FAILED, answer: "CHANNEL_FAILED" },
      { kind: "unavailable", reason: VoucherError.CHANNEL_FAILED, answer: "CHANNEL_FAILED" },
      { kind: "rejected", reason: VoucherError.CHANNEL_REJECTED, answer: "CHANNEL_REJECTED" },
    ] as const)("answers a send channel's $kind with $answer, keeps the voucher pending, and a retry issues it", async ({ kind, reason }) => {
      const request = issueRequest();
      channel.failNext("issue", channelError(kind, "issue"));

      expect(await reasonOfFailure(vouchers.issue(request))).toBe(reason);
      expect(await store.find(request.orderNo)).toMatchObject({ keyStatus: KeyStatus.PENDING, voucherNo: null, url: null });
      expect(await lastErrorOf(request.orderNo)).toContain(`blue-brothers issue ${kind}`);
      expect(await eventsOf(request.orderNo)).toEqual([]);
      expect(eventsWritten).toBe(0);

      expect((await vouchers.issue(request)).keyStatus).toBe(KeyStatus.NORMAL);
      expect(await lastErrorOf(request.orderNo)).toBeNull();
      expect(channel.issues).toHaveLength(2);
    });
  });

  describe("void", () => {
    it("voids a live voucher at its send channel once: a repeat answers the voided voucher", async () => {
      const request = issueRequest();
      const issued = await vouchers.issue(request);
      const voided = await vouchers.void(request.orderNo);

      expect(voided).toMatchObject({ orderNo: request.orderNo, voucherNo: issued.voucherNo, keyStatus: KeyStatus.VOIDED });
      expect(await vouchers.void(request.orderNo)).toEqual(voided);
      expect(channel.voids).toEqual([{ channelRef: request.orderNo, code: issued.voucherNo }]);
      expect(eventsWritten).toBe(2);
      expect(await eventsOf(request.orderNo)).toEqual([
        expect.objectContaining({ subject: "voucher.issued" }) as unknown,
        { subject: "voucher.voided", event: expect.objectContaining({ orderNo: request.orderNo, voucherNo: issued.voucherNo, sendChannel: CHANNEL }) as unknown },
      ]);
    });

    it("never issues a voided order's voucher again: SERVICE_CANCELLED", async () => {
      const request = issueRequest();
      await vouchers.issue(request);
      await vouchers.void(request.orderNo);

      expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.VOIDED);
      expect(channel.issues).toHaveLength(1);
    });

    it("voids by order number a voucher whose issue never succeeded, so a late issue stays dead", async () => {
      const request = issueRequest();
      channel.failNext("issue", channelError("timeout", "issue"));
      await reasonOfFailure(vouchers.issue(request));

      expect((await vouchers.void(request.orderNo)).keyStatus).toBe(KeyStatus.VOIDED);
      expect(channel.voids).toEqual([{ channelRef: request.orderNo, code: "" }]);
      expect((await eventsOf(request.orderNo)).map((entry) => entry.event)).toEqual([expect.objectContaining({ voucherNo: "" })]);
      expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.VOIDED);
    });

    it("answers REDEEMED for a voucher the customer redeemed, records it redeemed once (voucher.redeemed), and answers so again without asking", async () => {
      const request = issueRequest();
      await vouchers.issue(request);
      channel.redeem(request.orderNo);

      expect(await reasonOfFailure(vouchers.void(request.orderNo))).toBe(VoucherError.REDEEMED);
      expect((await vouchers.get(request.orderNo)).keyStatus).toBe(KeyStatus.REDEEMED);
      expect(await reasonOfFailure(vouchers.void(request.orderNo))).toBe(VoucherError.REDEEMED);
      expect(channel.voids).toHaveLength(1);
      // The redemption is announced, so the order learns it even if the channel's notice never comes.
      expect((await eventsOf(request.orderNo)).map((entry) => entry.subject)).toEqual(["voucher.issued", "voucher.redeemed"]);
    });

    it("answers UPSTREAM_FAILED when the send channel fails the void, keeping the voucher live for a retry", async () => {
      const request = issueRequest();
      await vouchers.issue(request);
      channel.failNext("void", channelError("unavailable", "void"));

      expect(await reasonOfFailure(vouchers.void(request.orderNo))).toBe(VoucherError.CHANNEL_FAILED);
      expect((await vouchers.get(request.orderNo)).keyStatus).toBe(KeyStatus.NORMAL);
      expect(await lastErrorOf(request.orderNo)).toContain("blue-brothers void unavailable");

      expect((await vouchers.void(request.orderNo)).keyStatus).toBe(KeyStatus.VOIDED);
      expect(channel.voids).toHaveLength(2);
    });

    it("answers ORDER_NOT_FOUND to a void or a look-up of an order without a voucher", async () => {
      const { orderNo } = issueRequest();

      expect(await reasonOfFailure(vouchers.void(orderNo))).toBe(VoucherError.NOT_FOUND);
      expect(await reasonOfFailure(vouchers.get(orderNo))).toBe(VoucherError.NOT_FOUND);
      expect(channel.voids).toEqual([]);
    });
  });
});
