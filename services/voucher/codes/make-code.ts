import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { toBinary } from "@bufbuild/protobuf";
import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import { UpstreamError } from "../../common/upstream-http.js";
import { MakeCodeRequestSchema, type MakeCodeRequest } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import type { CatalogueStore, Offer, Template } from "../catalogue/catalogue-store.js";
import { RECORD_ID } from "../catalogue/fields.js";
import type { SendChannel as SendChannelRecord } from "../catalogue/catalogue-store.js";
import { MAKE_CODE_SCENE, makeCodeSubjects, type LimitRule, type QuotaGate } from "../rules/quota-gate.js";
import type { MakeCodesOrder, SendChannel } from "../channels/send-channel.js";
import { CodeError, codeError } from "./errors.js";
import type { CodeOrderRecord, CodeOrderStore } from "./code-order-store.js";

/** The make-code request's limits (the seed's "小于64个字符" and what a synchronous call can make in its deadline). */
export const MAKE_CODE_LIMITS = {
  /** The seed's makeNotifyQuery: 小于64个字符 (the same id). */
  saleChannelOrderId: 63,
  requestId: 64,
  saleChannelItemId: 64,
  maxValidDays: 3660,
  maxCommissionDays: 365,
  /** Codes per synchronous make-code; more is a bulk job (sendType 2). */
  maxCodeNum: 100,
} as const;

/**
 * What a send channel keeps of an order besides the request, given by an in-process caller only (the PSBC
 * booking's rights code and customer reference, for Blue Brothers): not part of the sale channels' contract, nor
 * of the request's identity.
 */
export type ChannelExtras = Pick<MakeCodesOrder, "rightsCode" | "customerRef">;

/** Mainland mobile numbers: 11 digits from 1. */
const MOBILE = /^1\d{10}$/;
/** Printable, without the bytes PostgreSQL refuses (NUL) or that break a log line. */
const SAFE_TEXT = /^[\x21-\x7e]+$/;
const DAY_MS = 86_400_000;
const BUSINESS_OFFSET_MS = 8 * 3_600_000;

export interface MakeCodeDeps {
  orders: CodeOrderStore;
  catalogue: CatalogueStore;
  quota: QuotaGate;
  /** The adapter for a send channel of the catalogue. */
  channelFor(record: SendChannelRecord): Promise<SendChannel>;
  clock: Clock;
  logger: Logger;
  /** How long one caller may hold an order while it makes the codes; repeats wait up to this for its answer. */
  leaseMs: number;
  /** Told of each order made (the SMS notice). */
  onMade?(order: CodeOrderRecord): Promise<void>;
}

/**
 * 制码: a sale channel orders codes of a template. The story: the request is checked; a repeat of an order
 * answers what the first made (another request under the same order id is refused); the sale channel, the
 * template and an activity of the channel offering it must be active and in their validity; the make-code
 * quotas are reserved; the codes are made through the template's send channel (a failure gives the quota back);
 * the order is recorded made with its codes.
 */
export class MakeCodes {
  constructor(private readonly deps: MakeCodeDeps) {}

  /**
   * `neverAsked`: the caller knows no order exists under this id yet (a voucher row created just now), so the
   * first read is skipped; were it wrong, the insert's conflict sends it to the read all the same.
   */
  async make(request: MakeCodeRequest, forChannel: ChannelExtras = {}, { neverAsked = false } = {}): Promise<CodeOrderRecord> {
    check(request);
    const requestHash = requestHashOf(request);
    const deadline = Date.now() + this.deps.leaseMs;
    for (let first = true; ; first = false) {
      const existing = first && neverAsked ? undefined : await this.deps.orders.find(request.saleChannelId, request.saleChannelOrderId);
      if (existing) {
        if (existing.requestHash !== requestHash) {
          throw codeError(CodeError.DUPLICATE_ORDER, `saleChannelOrderId ${request.saleChannelOrderId} was used for another request`);
        }
        if (existing.status === "MADE") return existing;
        const claimed = await this.deps.orders.reclaim(existing.tradeNo, this.deps.leaseMs);
        if (claimed) return this.makeClaimed(claimed, forChannel);
        // Another caller is making them: its answer is ours once it lands.
        if (Date.now() > deadline) throw codeError(CodeError.IN_PROGRESS, "this order's codes are being made; repeat the request in a moment");
        await sleep(50);
        continue;
      }
      const { order, ...read } = await this.offerOf(request);
      const created = await this.deps.orders.create({ ...order, requestHash }, this.deps.leaseMs);
      if (created) return this.makeClaimed(created, forChannel, read);
    }
  }

  /** The order of a sale channel's order id, if it was ever asked for. */
  find(saleChannelId: string, saleChannelOrderId: string): Promise<CodeOrderRecord | undefined> {
    return this.deps.orders.find(saleChannelId, saleChannelOrderId);
  }

  async get(saleChannelId: string, saleChannelOrderId: string): Promise<CodeOrderRecord> {
    const order = await this.find(saleChannelId, saleChannelOrderId);
    if (!order) throw codeError(CodeError.NOT_FOUND, `no make-code order ${saleChannelOrderId}`);
    return order;
  }

  /** The adapter of a catalogue send channel (a made code's void and status query go to it). */
  async sendChannel(sendChannelId: string): Promise<SendChannel> {
    const record = await this.deps.catalogue.findSendChannel(sendChannelId);
    if (!record) throw codeError(CodeError.NOT_AVAILABLE, `send channel ${sendChannelId} is gone`);
    return this.deps.channelFor(record);
  }

  /** What the order will make: from the request and the catalogue, refused when anything is missing or inactive. */
  private async offerOf(request: MakeCodeRequest) {
    const item = request.item;
    if (!item) throw codeError(CodeError.PARAMETER_INVALID, "item is required");
    const now = this.deps.clock.now();
    const offer = await this.deps.catalogue.findOffer(request.saleChannelId, item.ticketId, now);
    const { template, sendChannel, activity } = standing(offer, request.saleChannelId, item.ticketId);

    // Valid from the start of the business day `commissionDate` days on, for validDays days, within the activity.
    const validStart = new Date(businessDayStart(now) + Number(item.commissionDate) * DAY_MS);
    const validEnd = new Date(Math.min(validStart.getTime() + item.validDays * DAY_MS, activity.validEnd.getTime()));
    if (validStart >= validEnd) throw codeError(CodeError.NOT_AVAILABLE, `activity ${activity.activityId} ends before the codes would become valid`);
    const useTimes = Number(template.config.useTimes);
    const order = {
      saleChannelId: request.saleChannelId,
      saleChannelOrderId: request.saleChannelOrderId,
      requestId: request.requestId,
      saleChannelItemId: item.saleChannelItemId,
      templateId: template.templateId,
      activityId: activity.activityId,
      sendChannelId: sendChannel.sendChannelId,
      ticketName: template.name,
      activityName: activity.name,
      codeNum: item.codeNum || 1,
      useTimes: Number.isInteger(useTimes) && useTimes > 0 ? useTimes : 1,
      validStart,
      validEnd,
      orderMobile: request.mobilePhone || null,
      createdAt: now,
    };
    return { order, template, sendChannel, limitRules: offer.limitRules };
  }

  /**
   * A reclaimed order's template and send channel: nothing was made yet, so its offer must stand now as a new
   * order's must (a template, send channel or activity disabled since the first try is 04). The order stays at the
   * send channel it was first tried at, which knows it by its trade number, whichever the template names now.
   */
  private async standingOfferOf(order: CodeOrderRecord): Promise<{ template: Template; sendChannel: SendChannelRecord }> {
    const now = this.deps.clock.now();
    // The repeat makes the order's codes as first asked, validity included: past it, they would be dead on arrival.
    if (order.validEnd <= now) throw codeError(CodeError.NOT_AVAILABLE, `the order's codes were valid until ${order.validEnd.toISOString()}`);
    const offer = await this.deps.catalogue.findOffer(order.saleChannelId, order.templateId, now);
    const sendChannel = offer.sendChannel?.sendChannelId === order.sendChannelId ? offer.sendChannel : await this.deps.catalogue.findSendChannel(order.sendChannelId);
    return standing({ ...offer, sendChannel }, order.saleChannelId, order.templateId);
  }

  /**
   * This caller holds the order: quota, then the codes, then the record. `read`: the template, send channel and
   * limit rules when this call just read them for a new order (a reclaimed one reads its offer again, as it
   * stands now, and the gate reads the rules of the order's own activity).
   */
  private async makeClaimed(
    order: CodeOrderRecord,
    forChannel: ChannelExtras,
    read?: { template: Template; sendChannel: SendChannelRecord; limitRules: readonly LimitRule[] },
  ): Promise<CodeOrderRecord> {
    // The order's, on every claim: one taken over from a caller that died after reserving is that reservation.
    const reference = `${order.saleChannelId}:${order.saleChannelOrderId}`;
    const { template, sendChannel: record } =
      read ??
      (await this.standingOfferOf(order).catch(async (err: unknown) => {
        // A caller that died after reserving left the order's charge: it goes back with the refusal, as a failed
        // make-code's does (while this call holds the order).
        if (await this.deps.orders.recordFailed(order, err instanceof Error ? err.message : String(err))) await this.deps.quota.releaseReference(reference);
        throw err;
      }));
    const decision = await this.deps.quota.reserve(
      {
        scene: MAKE_CODE_SCENE,
        subjects: makeCodeSubjects({ saleChannel: order.saleChannelId, activity: order.activityId, template: order.templateId }),
        keys: { ScenceLimit: order.saleChannelId, ActivityLimit: order.activityId },
        count: order.codeNum,
        amountFen: order.codeNum * template.faceValue,
        // The codes count on the day they are made: a repeat of an order that failed yesterday is today's.
        at: this.deps.clock.now(),
        reference,
      },
      read?.limitRules,
    );
    if (!decision.ok) {
      await this.deps.orders.recordFailed(order, `quota: rule ${decision.ruleId} ${decision.field}`);
      throw codeError(CodeError.QUOTA_EXCEEDED, decision.message);
    }
    let made;
    try {
      const channel = await this.deps.channelFor(record);
      made = await channel.makeCodes({
        // One id per order at the channel, the same on every claim: a retry after a lost answer gets the same codes.
        sendChannelOrderId: order.tradeNo,
        whaleTradeNo: order.tradeNo,
        saleChannelId: order.saleChannelId,
        sendChannelId: order.sendChannelId,
        saleChannelItemId: order.saleChannelItemId,
        productRef: template.productId,
        codeNum: order.codeNum,
        useTimes: order.useTimes,
        validStart: order.validStart,
        validEnd: order.validEnd,
        createdAt: order.createdAt,
        ...forChannel,
      });
    } catch (err) {
      const why = err instanceof UpstreamError ? `${err.kind} ${err.code}` : err instanceof Error ? err.message : String(err);
      // Only while this call still holds the order: a repeat that took it over is making it under this reservation.
      const held = await this.deps.orders.recordFailed(order, `send channel: ${why}`);
      if (held) await this.deps.quota.release(decision.reservationId);
      this.deps.logger.warn({ tradeNo: order.tradeNo, sendChannelId: order.sendChannelId, why, quotaReleased: held }, "make-code failed at the send channel");
      // The channel's error rides along in this process: an in-process caller (the PSBC booking) tells a refusal for good apart.
      throw codeError(CodeError.CHANNEL_FAILED, `send channel ${order.sendChannelId} failed to make the codes`, err);
    }
    const recorded = await this.deps.orders.recordMade(order, made);
    // A caller that outlived its lease, answered after the repeat that took the order over failed (and gave the
    // quota back): the order is FAILED, and its codes come from the channel again on the next repeat.
    if (recorded.status !== "MADE") throw codeError(CodeError.CHANNEL_FAILED, `order ${order.tradeNo} failed at the send channel meanwhile; repeat it`);
    // Counts and ids only: a code never goes into a log line.
    this.deps.logger.info({ tradeNo: order.tradeNo, saleChannelId: order.saleChannelId, codeNum: made.length }, "codes made");
    await this.deps.onMade?.(recorded);
    return recorded;
  }
}

/** The offer's records when each is active and an activity of the sale channel offers the template now; else NOT_AVAILABLE naming which. */
function standing({ saleChannel, template, sendChannel, activity }: Offer, saleChannelId: string, ticketId: string): Required<Omit<Offer, "limitRules">> {
  if (!saleChannel?.isActive) throw codeError(CodeError.NOT_AVAILABLE, `sale channel ${saleChannelId} is missing or inactive`);
  if (!template?.isActive) throw codeError(CodeError.NOT_AVAILABLE, `ticketId ${ticketId}: no active template`);
  if (template.sendType !== 1) throw codeError(CodeError.NOT_AVAILABLE, `ticketId ${ticketId}: a bulk (sendType 2) template is not made per call`);
  if (!sendChannel?.isActive) throw codeError(CodeError.NOT_AVAILABLE, `ticketId ${ticketId}: its send channel is inactive`);
  if (!activity) throw codeError(CodeError.NOT_AVAILABLE, `ticketId ${ticketId}: no active activity of the sale channel offers it now`);
  return { saleChannel, template, sendChannel, activity };
}

/** The start (00:00 Asia/Shanghai) of the business day `at` falls in, in ms since the epoch. */
function businessDayStart(at: Date): number {
  return Math.floor((at.getTime() + BUSINESS_OFFSET_MS) / DAY_MS) * DAY_MS - BUSINESS_OFFSET_MS;
}

/**
 * The validDays that make a code ordered on the business day of `from` (commissionDate 0) valid at least until
 * `until`; within 1 and the request's maximum.
 */
export function validDaysCovering(until: Date, from: Date): number {
  const days = Math.ceil((until.getTime() - businessDayStart(from)) / DAY_MS);
  return Math.min(Math.max(days, 1), MAKE_CODE_LIMITS.maxValidDays);
}

/**
 * What tells a repeat from another request under the same order id: a digest of the request's protobuf encoding
 * (deterministic for equal fields), so key order or spacing in the caller's JSON changes nothing.
 */
export function requestHashOf(request: MakeCodeRequest): string {
  return createHash("sha256").update(toBinary(MakeCodeRequestSchema, request)).digest("hex");
}

/** The request's own limits, before any lookup; the message names the field and the rule. */
function check(request: MakeCodeRequest): void {
  const fail = (message: string): never => {
    throw codeError(CodeError.PARAMETER_INVALID, message);
  };
  const text = (name: string, value: string, max: number) => {
    if (value.length === 0) fail(`${name} is required`);
    if (value.length > max) fail(`${name} must be shorter than ${max + 1} characters`);
    if (!SAFE_TEXT.test(value)) fail(`${name} must be printable ASCII without spaces`);
  };
  if (!RECORD_ID.test(request.saleChannelId)) fail("sale channel id must be a record id");
  text("saleChannelOrderId", request.saleChannelOrderId, MAKE_CODE_LIMITS.saleChannelOrderId);
  text("requestId", request.requestId, MAKE_CODE_LIMITS.requestId);
  if (request.mobilePhone !== "" && !MOBILE.test(request.mobilePhone)) fail("notifyType.mobilePhone must be 11 digits starting with 1");
  const item = request.item;
  if (!item) return fail("item is required");
  text("item.saleChannelItemId", item.saleChannelItemId, MAKE_CODE_LIMITS.saleChannelItemId);
  if (!/^\d{1,3}$/.test(item.commissionDate) || Number(item.commissionDate) > MAKE_CODE_LIMITS.maxCommissionDays) {
    fail(`item.commissionDate must be a number of days from 0 to ${MAKE_CODE_LIMITS.maxCommissionDays}`);
  }
  if (!Number.isInteger(item.validDays) || item.validDays < 1 || item.validDays > MAKE_CODE_LIMITS.maxValidDays) {
    fail(`item.validDays must be an integer from 1 to ${MAKE_CODE_LIMITS.maxValidDays}`);
  }
  if (!RECORD_ID.test(item.ticketId)) fail("item.ticketId must be a template id");
  if (item.codeNum < 0 || item.codeNum > MAKE_CODE_LIMITS.maxCodeNum) fail(`item.codeNum must be from 1 to ${MAKE_CODE_LIMITS.maxCodeNum}`);
  const funds = item.makeFundsChannel;
  if (funds && [funds.channelBenefit, funds.merchantBenefit, funds.userRealAmount].some((fen) => fen < 0n)) {
    fail("item.makeFundsChannel amounts must not be negative");
  }
}
