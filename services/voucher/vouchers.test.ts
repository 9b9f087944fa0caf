// The voucher use cases on their own: the real VoucherStore, make-code (code orders, the quota gate) and the
// sandbox's PSBC offer (PGlite, or PostgreSQL when DATABASE_URL is set) and an in-memory send channel. Each story
// asserts what the caller is answered, what the stores and the outbox hold, and what the send channel was asked.
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
import { ISSUE_FAILURE_OF, PSBC_SALE_CHANNEL_NAME, Vouchers, type IssueRequest } from "./vouchers.js";
import { KeyRing } from "../common/key-ring.js";
import { SANDBOX_PSBC_OFFER } from "../sandbox/credentials.js";
import { AuditStore } from "./catalogue/audit-store.js";
import { CatalogueStore } from "./catalogue/catalogue-store.js";
import { CodeOrderStore } from "./codes/code-order-store.js";
import { CodeError } from "./codes/errors.js";
import { MakeCodes } from "./codes/make-code.js";
import { ensureSandboxPsbcOffer } from "./psbc-offer.js";
import { createQuotaGate, MAKE_CODE_SCENE } from "./rules/quota-gate.js";
import { validateRule } from "./rules/rule-definition.js";
import { RuleStore } from "./rules/rule-store.js";

const logger = createLogger("vouchers-test", "silent");
const CHANNEL = "BLUE_BROTHERS";
const STATUS_POLL_INTERVAL_MS = 60_000;

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
  return {
    orderNo: `ORD-${tag}-${sequence}`,
    templateId: SANDBOX_PSBC_OFFER.templateId,
    rightsCode: `C-${tag}-${sequence}`,
    customerRef: "customer-0001",
    validUntil: new Date(Date.now() + 365 * 86_400_000),
    ...overrides,
  };
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
  /** How far ahead of the machine's clock the use case's clock reads (the status poll's due times). */
  let clockAheadMs: number;
  let catalogue: CatalogueStore;
  let psbcSaleChannelId: string;

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)), logger });
    store = new VoucherStore(t.db);
    catalogue = new CatalogueStore(t.db, new KeyRing(Buffer.alloc(32, 7)));
    await ensureSandboxPsbcOffer({ db: t.db, store: catalogue, audit: new AuditStore(t.db), clock: systemClock });
    psbcSaleChannelId = (await catalogue.findSaleChannelByName(PSBC_SALE_CHANNEL_NAME))!.saleChannelId;
  });

  afterAll(async () => {
    await t?.drop();
  });

  beforeEach(() => {
    channel = new FakeSendChannel();
    eventsWritten = 0;
    const makeCodes = new MakeCodes({
      orders: new CodeOrderStore(t.db),
      catalogue,
      quota: createQuotaGate({ db: t.db, rules: new RuleStore(t.db), clock: systemClock }),
      channelFor: async () => channel,
      clock: systemClock,
      logger,
      leaseMs: 5_000,
    });
    clockAheadMs = 0;
    vouchers = new Vouchers({
      store,
      makeCodes,
      catalogue,
      channels: new Map([[CHANNEL, channel]]),
      clock: { now: () => new Date(Date.now() + clockAheadMs) },
      logger,
      statusPollIntervalMs: STATUS_POLL_INTERVAL_MS,
      eventsWritten: () => void (eventsWritten += 1),
    });
  });

  /** The PSBC sale channel's code order of an order number, and its made codes. */
  const codeOrderOf = async (orderNo: string) => {
    const { rows } = await t.db.query<{ trade_no: string; status: string; template_id: string; code_num: number; codes: string[] | null }>(
      `SELECT o.trade_no, o.status, o.template_id::text, o.code_num,
              (SELECT array_agg(m.code ORDER BY m.seq) FROM vouchers.made_code m WHERE m.trade_no = o.trade_no) AS codes
         FROM vouchers.code_order o WHERE o.sale_channel_id = $1 AND o.sale_channel_order_id = $2`,
      [psbcSaleChannelId, orderNo],
    );
    return rows[0];
  };

  const eventsOf = (orderNo: string) =>
    outboxEventsOf(t.db, VOUCHER_SCHEMA, orderNo, [VoucherIssuedSchema, VoucherVoidedSchema, VoucherRedeemedSchema]);
  const lastErrorOf = async (orderNo: string) =>
    (await t.db.query<{ last_error: string | null }>(`SELECT last_error FROM vouchers.voucher WHERE order_no = $1`, [orderNo])).rows[0]?.last_error;

  it("seeds the sandbox's PSBC offer once, however many replicas start together, each record audited", async () => {
    const audit = new AuditStore(t.db);
    await Promise.all([1, 2, 3].map(() => ensureSandboxPsbcOffer({ db: t.db, store: catalogue, audit, clock: systemClock })));
    const counts = await t.db.query<{ sale: number; send: number; template: number; activities: number; audited: number }>(
      `SELECT (SELECT count(*)::int FROM vouchers.sale_channel WHERE name = $1) AS sale,
              (SELECT count(*)::int FROM vouchers.send_channel WHERE name = $2) AS send,
              (SELECT count(*)::int FROM vouchers.template WHERE template_id = $3) AS template,
              (SELECT count(*)::int FROM vouchers.activity_template WHERE template_id = $3) AS activities,
              (SELECT count(*)::int FROM vouchers.catalogue_audit WHERE actor = 'sandbox') AS audited`,
      [PSBC_SALE_CHANNEL_NAME, SANDBOX_PSBC_OFFER.sendChannelName, SANDBOX_PSBC_OFFER.templateId],
    );
    expect(counts.rows[0]).toEqual({ sale: 1, send: 1, template: 1, activities: 1, audited: 5 });
  });

  describe("issue", () => {
    it("makes the voucher as a code order of the PSBC sale channel with its made code; a repeat answers it without asking the send channel", async () => {
      const request = issueRequest();
      const issued = await vouchers.issue(request);
      const order = await codeOrderOf(request.orderNo);
      const { voucherNo, url } = channel.voucherOf(String(order?.trade_no)) ?? {};

      expect(order).toEqual({ trade_no: issued.tradeNo, status: "MADE", template_id: SANDBOX_PSBC_OFFER.templateId, code_num: 1, codes: [voucherNo] });
      expect(issued).toMatchObject({
        orderNo: request.orderNo,
        sendChannel: CHANNEL,
        templateId: request.templateId,
        rightsCode: request.rightsCode,
        voucherNo,
        url,
        keyStatus: KeyStatus.NORMAL,
        channelRef: issued.tradeNo,
      });
      expect(await vouchers.issue(request)).toEqual(issued);
      expect(channel.issues).toEqual([
        expect.objectContaining({
          sendChannelOrderId: issued.tradeNo,
          saleChannelId: psbcSaleChannelId,
          // The WHALE template's productId: Blue Brothers' own template.
          productRef: SANDBOX_PSBC_OFFER.productId,
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

    it("makes one code, one voucher and one event when four issues of an order run at once", async () => {
      const request = issueRequest();
      const answers = await Promise.all([1, 2, 3, 4].map(() => vouchers.issue(request)));

      expect(new Set(answers.map((answer) => answer.voucherNo)).size).toBe(1);
      expect(channel.issues).toHaveLength(1);
      expect((await codeOrderOf(request.orderNo))?.codes).toEqual([answers[0]?.voucherNo]);
      expect((await eventsOf(request.orderNo)).map((entry) => entry.subject)).toEqual(["voucher.issued"]);
    });

    it("answers PARAMETER_INVALID to a request without an order number, template, rights code or validity, storing nothing", async () => {
      const invalid = fc.oneof(
        fc.constantFrom<Partial<IssueRequest>>({ orderNo: "" }, { templateId: "" }, { rightsCode: "" }, { validUntil: undefined }),
        fc.integer().map((ms) => ({ validUntil: new Date(Number.NaN + ms) })),
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
      expect((await codeOrderOf(request.orderNo))?.status).toBe("FAILED");

      expect((await vouchers.issue(request)).keyStatus).toBe(KeyStatus.NORMAL);
      expect(await lastErrorOf(request.orderNo)).toBeNull();
      // The retry is the same code order, asked under the same send-channel order id.
      expect(channel.issues).toHaveLength(2);
      expect(new Set(channel.issues.map((issue) => issue.sendChannelOrderId)).size).toBe(1);
    });

    it("records a send channel's refusal whose message holds a NUL (PostgreSQL refuses one in text) as any other: CHANNEL_REJECTED, the text kept without it", async () => {
      const request = issueRequest();
      channel.failNext("issue", new UpstreamError("rejected", "blue-brothers", "issue", String(BLUE_BROTHERS_CODES.OUT_ORDER_CONFLICT), "out order\u0000 conflict"));

      expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.CHANNEL_REJECTED);
      expect(await lastErrorOf(request.orderNo)).toContain("out order conflict");
      const { rows } = await t.db.query<{ failure: string }>(`SELECT failure FROM vouchers.code_order WHERE sale_channel_order_id = $1`, [request.orderNo]);
      expect(rows[0]?.failure).toContain("rejected");
      expect((await vouchers.issue(request)).keyStatus).toBe(KeyStatus.NORMAL);
    });

    it("answers QUOTA_EXCEEDED, asking no channel, once a make-code quota of the PSBC offer is used up; the order treats it as for good", async () => {
      // A template of its own bound to the PSBC activity, so the rule counts this test's codes only.
      const templateId = await t.db.transaction(async (tx) => {
        const base = (await catalogue.findTemplate(SANDBOX_PSBC_OFFER.templateId, tx))!;
        const template = await catalogue.insertTemplate(tx, { ...base, productId: String(Date.now()) });
        const activities = await catalogue.activitiesOfTemplate(base.templateId, tx);
        await catalogue.bind(tx, activities[0]!, template.templateId);
        return template.templateId;
      });
      const rule = validateRule({
        ruleScenceKey: "template", ruleSceneItemKey: templateId, ruleScene: MAKE_CODE_SCENE, ruleName: "PSBC total", ruleKey: "ScenceLimit",
        ruleValue: {
          limitWay: "Q", limitType: "W",
          limitItems: [{ limitKey: psbcSaleChannelId, limitMaxDay: 0, limitMaxWeek: 0, limitMaxMonth: 0, limitMaxYear: 0, limitMaxTotal: 1, startTime: "20200101000000", endTime: "20991231235959" }],
        },
        startTime: "20200101000000", endTime: "20991231235959", messageTpl: "PSBC制码数量已达上限",
      });
      if (!rule.ok) throw new Error(rule.message);
      await new RuleStore(t.db).create(rule.value, "test", new Date());

      expect((await vouchers.issue(issueRequest({ templateId }))).keyStatus).toBe(KeyStatus.NORMAL);
      const refused = issueRequest({ templateId });
      expect(await reasonOfFailure(vouchers.issue(refused))).toBe(VoucherError.QUOTA_EXCEEDED);
      expect(channel.issues).toHaveLength(1);
      expect(await store.find(refused.orderNo)).toMatchObject({ keyStatus: KeyStatus.PENDING, voucherNo: null });
      expect(await lastErrorOf(refused.orderNo)).toContain("PSBC制码数量已达上限");
    });

    it("answers REFERENCE_INVALID for a template no PSBC activity offers, asking no channel", async () => {
      expect(await reasonOfFailure(vouchers.issue(issueRequest({ templateId: "9000999999" })))).toBe(VoucherError.REFERENCE_INVALID);
      expect(channel.issues).toEqual([]);
    });

    it.each([
      [CodeError.PARAMETER_INVALID, VoucherError.PARAMETER_INVALID],
      [CodeError.DUPLICATE_ORDER, VoucherError.DUPLICATE],
      [CodeError.NOT_AVAILABLE, VoucherError.REFERENCE_INVALID],
      [CodeError.QUOTA_EXCEEDED, VoucherError.QUOTA_EXCEEDED],
      [CodeError.CHANNEL_FAILED, VoucherError.CHANNEL_FAILED],
      [CodeError.IN_PROGRESS, VoucherError.CHANNEL_FAILED],
    ])("maps make-code's reason %s to the voucher's %s", (code, voucher) => {
      expect(ISSUE_FAILURE_OF[code]).toBe(voucher);
    });
  });

  describe("void", () => {
    it("voids a live voucher at its send channel once: a repeat answers the voided voucher", async () => {
      const request = issueRequest();
      const issued = await vouchers.issue(request);
      const voided = await vouchers.void(request.orderNo);

      expect(voided).toMatchObject({ orderNo: request.orderNo, voucherNo: issued.voucherNo, keyStatus: KeyStatus.VOIDED });
      expect(await vouchers.void(request.orderNo)).toEqual(voided);
      // The channel's reference of the code: the code order's send-channel order id, no longer our order number.
      expect(channel.voids).toEqual([{ channelRef: issued.tradeNo, code: issued.voucherNo }]);
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

    it("voids by its code order's send-channel order id a voucher whose issue never succeeded, so a late issue stays dead", async () => {
      const request = issueRequest();
      channel.failNext("issue", channelError("timeout", "issue"));
      await reasonOfFailure(vouchers.issue(request));

      expect((await vouchers.void(request.orderNo)).keyStatus).toBe(KeyStatus.VOIDED);
      expect(channel.voids).toEqual([{ channelRef: (await codeOrderOf(request.orderNo))?.trade_no, code: "" }]);
      expect((await eventsOf(request.orderNo)).map((entry) => entry.event)).toEqual([expect.objectContaining({ voucherNo: "" })]);
      expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.VOIDED);
    });

    it("voids at the channel a code made while a void of its voucher ran (a caller whose lock ran out): no live code outlasts a voided voucher", async () => {
      const request = issueRequest();
      // The channel makes the code only once the void has run: the void finds no code yet and voids by the order id.
      const makeCodes = channel.makeCodes.bind(channel);
      channel.makeCodes = async (input) => {
        await vouchers.void(request.orderNo);
        return makeCodes(input);
      };
      expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.VOIDED);
      const made = channel.voucherOf((await codeOrderOf(request.orderNo))!.trade_no);
      expect(made).toBeDefined();
      expect(channel.voids.map((v) => v.code)).toEqual(["", made?.voucherNo]);
      expect((await vouchers.get(request.orderNo)).keyStatus).toBe(KeyStatus.VOIDED);
    });

    it("voids such a stray code on the issue's retry when the channel failed the first void of it", async () => {
      const request = issueRequest();
      const makeCodes = channel.makeCodes.bind(channel);
      channel.makeCodes = async (input) => {
        await vouchers.void(request.orderNo);
        channel.failNext("void", channelError("unavailable", "void"));
        return makeCodes(input);
      };
      expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.CHANNEL_FAILED);
      const made = channel.voucherOf((await codeOrderOf(request.orderNo))!.trade_no);
      expect(channel.voids.map((v) => v.code)).toEqual(["", made?.voucherNo]);
      // The order retries the issue: the voided voucher's code is voided again, then the issue answers VOIDED.
      expect(await reasonOfFailure(vouchers.issue(request))).toBe(VoucherError.VOIDED);
      expect(channel.voids.map((v) => v.code)).toEqual(["", made?.voucherNo, made?.voucherNo]);
    });

    it("answers REDEEMED for a voucher the customer redeemed, records it redeemed once (voucher.redeemed), and answers so again without asking", async () => {
      const request = issueRequest();
      const issued = await vouchers.issue(request);
      channel.redeem(String(issued.tradeNo));

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

    /** The codes the status poll asks the channel about. */
    const codesAsked = () => {
      const asked: Array<Parameters<SendChannel["queryCode"]>[0]> = [];
      const query = channel.queryCode.bind(channel);
      channel.queryCode = async (code) => {
        asked.push(code);
        return query(code);
      };
      return asked;
    };

    it("asks the channel about an issued voucher one poll interval after its issue, not at once, then once per interval", async () => {
      const issued = await vouchers.issue(issueRequest());
      const asked = codesAsked();
      const askedAbout = () => asked.filter((code) => code.code === issued.voucherNo).length;

      await vouchers.pollStatuses(1_000);
      expect(askedAbout()).toBe(0);

      clockAheadMs = STATUS_POLL_INTERVAL_MS;
      await vouchers.pollStatuses(1_000);
      await vouchers.pollStatuses(1_000);
      expect(askedAbout()).toBe(1);
    });

    it("finds by the status poll a redemption at the code order's channel, asking under the code's channel reference", async () => {
      const request = issueRequest();
      const issued = await vouchers.issue(request);
      channel.redeem(String(issued.tradeNo));
      const asked = codesAsked();

      clockAheadMs = STATUS_POLL_INTERVAL_MS;
      const { found } = await vouchers.pollStatuses(1_000);
      expect(found).toBeGreaterThanOrEqual(1);
      expect(asked).toContainEqual({ channelRef: issued.tradeNo, code: issued.voucherNo });
      expect((await vouchers.get(request.orderNo)).keyStatus).toBe(KeyStatus.REDEEMED);
      expect((await eventsOf(request.orderNo)).map((entry) => entry.subject)).toEqual(["voucher.issued", "voucher.redeemed"]);
    });

    it("voids and polls a voucher made before migration 007 (no code order) under its order number, as it was made", async () => {
      const { orderNo } = issueRequest();
      const voucherNo = `BBOLD${randomBytes(4).toString("hex")}`;
      await t.db.query(
        `INSERT INTO vouchers.voucher (order_no, send_channel, template_id, rights_code, voucher_no, url, key_status, issued_at)
         VALUES ($1, 'BLUE_BROTHERS', 'BB-TPL-310001', 'C-old', $2, 'https://bb.example/redeem/old', 1, now())`,
        [orderNo, voucherNo],
      );
      expect(await vouchers.get(orderNo)).toMatchObject({ tradeNo: null, sendChannelId: null, channelRef: orderNo });

      // Issued before the first poll was set at issue: due at once.
      expect((await vouchers.pollStatuses(1_000)).claimed).toBeGreaterThanOrEqual(1);
      expect((await vouchers.void(orderNo)).keyStatus).toBe(KeyStatus.VOIDED);
      expect(channel.voids).toEqual([{ channelRef: orderNo, code: voucherNo }]);
    });

    it("answers ORDER_NOT_FOUND to a void or a look-up of an order without a voucher", async () => {
      const { orderNo } = issueRequest();

      expect(await reasonOfFailure(vouchers.void(orderNo))).toBe(VoucherError.NOT_FOUND);
      expect(await reasonOfFailure(vouchers.get(orderNo))).toBe(VoucherError.NOT_FOUND);
      expect(channel.voids).toEqual([]);
    });
  });
});
