import { create } from "@bufbuild/protobuf";
import type { Clock } from "../common/clock.js";
import { ConnectError, reasonOf } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { UpstreamError } from "../common/upstream-http.js";
import { CodeErrorSchema, MakeCodeRequestSchema, type MakeCodeRequest } from "../../proto/gen/rights/voucher/v1/codes_pb.js";
import type { CatalogueStore } from "./catalogue/catalogue-store.js";
import { VoucherAlreadyRedeemed, type CodeAtChannel, type SendChannel } from "./channels/send-channel.js";
import { CodeError } from "./codes/errors.js";
import type { CodeOrderRecord } from "./codes/code-order-store.js";
import { validDaysCovering, type MakeCodes } from "./codes/make-code.js";
import { VoucherError, voucherError } from "./errors.js";
import { KeyStatus } from "./key-status.js";
import type { VoucherRecord, VoucherStore } from "./voucher-store.js";

/** The catalogue sale channel (取码方) whose code orders the PSBC bookings' vouchers are: the one of this name. */
export const PSBC_SALE_CHANNEL_NAME = "PSBC";

export interface IssueRequest {
  orderNo: string;
  /** The service type's WHALE template. */
  templateId: string;
  rightsCode: string;
  customerRef: string;
  /** When the booking's rights expire: the code is valid at least until then. */
  validUntil: Date | undefined;
}

/**
 * How a make-code failure reaches the order service. A quota, like a channel's refusal for good, refuses the
 * same call again, so the order does not retry it as it is; a missing or inactive PSBC offer is an operator's to
 * fix, and the booking's retry then succeeds.
 */
export const ISSUE_FAILURE_OF: Record<CodeError, VoucherError> = {
  [CodeError.UNSPECIFIED]: VoucherError.UNSPECIFIED,
  [CodeError.PARAMETER_INVALID]: VoucherError.PARAMETER_INVALID,
  // The order number was made under another template (the service type's changed since the first try).
  [CodeError.DUPLICATE_ORDER]: VoucherError.DUPLICATE,
  [CodeError.NOT_AVAILABLE]: VoucherError.REFERENCE_INVALID,
  [CodeError.QUOTA_EXCEEDED]: VoucherError.QUOTA_EXCEEDED,
  // Told apart below by the channel's own error: refused for good, or failed and worth a retry.
  [CodeError.CHANNEL_FAILED]: VoucherError.CHANNEL_FAILED,
  // Another issue of the same order is making its code: a retry answers it.
  [CodeError.IN_PROGRESS]: VoucherError.CHANNEL_FAILED,
  [CodeError.NOT_FOUND]: VoucherError.UNSPECIFIED,
  [CodeError.SIGNATURE_INVALID]: VoucherError.UNSPECIFIED,
};

/**
 * The PSBC bookings' vouchers: each made as a make-code order of the PSBC sale channel (the one story of making
 * a code: the catalogue's offer, the make-code quotas, the template's send channel), idempotent by our order
 * number, then voided, expired, redeemed and polled here.
 */
export class Vouchers {
  constructor(
    private readonly deps: {
      store: VoucherStore;
      makeCodes: MakeCodes;
      catalogue: CatalogueStore;
      /** The adapters by the name a redemption notice, or a voucher made before migration 007, gives. */
      channels: ReadonlyMap<string, SendChannel>;
      logger: Logger;
      clock: Clock;
      /** How often each issued, unredeemed voucher's status is asked of its channel; the first ask one interval after issue. */
      statusPollIntervalMs: number;
      eventsWritten(): void;
    },
  ) {}

  async issue(request: IssueRequest): Promise<VoucherRecord> {
    const { validUntil } = request;
    if (!request.orderNo || !request.templateId || !request.rightsCode || !validUntil || Number.isNaN(validUntil.getTime())) {
      throw voucherError(VoucherError.PARAMETER_INVALID, "order number, template, rights code and validity are required");
    }
    const { voucher, created } = await this.deps.store.findOrCreatePending({ ...request, createdAt: this.deps.clock.now() });
    if (voucher.keyStatus !== KeyStatus.PENDING) {
      if (isDead(voucher) && !voucher.voucherNo) await this.voidStrayCodeOf(voucher);
      if (voucher.keyStatus === KeyStatus.VOIDED) throw voucherError(VoucherError.VOIDED, "voucher voided");
      return voucher;
    }
    let order;
    try {
      const saleChannelId = await this.psbcSaleChannelId();
      // The code order's idempotency is the voucher's: a retry, or a concurrent issue, answers the same code. A
      // voucher created just now has no code order yet.
      order = await this.deps.makeCodes.make(
        psbcMakeCodeRequest(saleChannelId, voucher, validUntil),
        { rightsCode: voucher.rightsCode, customerRef: request.customerRef },
        { neverAsked: created },
      );
    } catch (err) {
      await this.failed(voucher.orderNo, "issue", err);
      throw issueFailure(err);
    }
    const [code] = order.codes;
    if (!code || !order.sendChannelType) throw voucherError(VoucherError.CHANNEL_FAILED, `code order ${order.tradeNo} holds no code`);
    const issuedAt = this.deps.clock.now();
    // The poll is the safety net for a lost redemption notice: asking a code made a moment ago could find nothing.
    const firstPollAt = new Date(issuedAt.getTime() + this.deps.statusPollIntervalMs);
    const recorded = await this.deps.store.recordIssued(
      voucher,
      { tradeNo: order.tradeNo, sendChannelId: order.sendChannelId, sendChannel: order.sendChannelType, code: code.code, url: code.url, channelRef: code.channelRef },
      issuedAt,
      firstPollAt,
    );
    if (isDead(recorded) && recorded.voucherNo !== code.code) {
      // Voided or expired while the code was being made (by a caller whose lock on the booking ran out): the code
      // is live at the channel, and nothing else would ever void it.
      await this.voidStrayCode(recorded, order.sendChannelId, code);
      if (recorded.keyStatus === KeyStatus.VOIDED) throw voucherError(VoucherError.VOIDED, "voucher voided");
      return recorded;
    }
    this.deps.eventsWritten();
    return recorded;
  }

  async void(orderNo: string): Promise<VoucherRecord> {
    const voucher = await this.deps.store.find(orderNo);
    if (!voucher) throw voucherError(VoucherError.NOT_FOUND, `no voucher for order ${orderNo}`);
    if (voucher.keyStatus === KeyStatus.VOIDED) return voucher;
    if (voucher.keyStatus === KeyStatus.REDEEMED) throw voucherError(VoucherError.REDEEMED, "voucher redeemed");
    await this.voidAtChannel(voucher, "void");
    const voided = await this.deps.store.recordVoided(voucher, this.deps.clock.now());
    this.deps.eventsWritten();
    return voided;
  }

  /**
   * The order's rights expired: voided at the channel, then key status 4 and voucher.expired. Idempotent, so an
   * expiry that stopped half-way resumes; a voucher the customer redeemed first answers REDEEMED.
   */
  async expire(orderNo: string): Promise<VoucherRecord> {
    const voucher = await this.deps.store.find(orderNo);
    // A booking that never reached the voucher service has nothing to void.
    if (!voucher) throw voucherError(VoucherError.NOT_FOUND, `no voucher for order ${orderNo}`);
    if (voucher.keyStatus === KeyStatus.EXPIRED) return voucher;
    if (voucher.keyStatus === KeyStatus.REDEEMED) throw voucherError(VoucherError.REDEEMED, "voucher redeemed");
    if (voucher.keyStatus !== KeyStatus.VOIDED) await this.voidAtChannel(voucher, "expiry void");
    const expired = await this.deps.store.recordExpired(voucher, this.deps.clock.now());
    this.deps.eventsWritten();
    return expired;
  }

  /** A send channel's redemption notice (see the RecordRedemption RPC). */
  async recordRedemption(notice: {
    sendChannel: string;
    voucherNo: string;
    redeemedAt: Date | undefined;
    noticeId: string;
    nonce: string;
  }): Promise<{ voucher: VoucherRecord; alreadyRedeemed: boolean }> {
    const { redeemedAt } = notice;
    if (!notice.voucherNo || !notice.noticeId || !notice.nonce || !redeemedAt || Number.isNaN(redeemedAt.getTime())) {
      throw voucherError(VoucherError.PARAMETER_INVALID, "voucher number, redemption time, notice id and nonce are required");
    }
    this.channel(notice.sendChannel);
    const outcome = await this.deps.store.recordRedemptionNotice({ ...notice, redeemedAt });
    if (outcome.alreadyRedeemed) {
      if (outcome.voucher.keyStatus !== KeyStatus.REDEEMED) {
        // Voided or expired here, yet redeemed there: an operator must look; the channel is told we heard it.
        this.deps.logger.warn({ orderNo: outcome.voucher.orderNo, keyStatus: outcome.voucher.keyStatus, noticeId: notice.noticeId }, "redemption notice for a voucher no longer live; not recorded");
      }
    } else {
      this.deps.eventsWritten();
      this.deps.logger.info({ orderNo: outcome.voucher.orderNo, noticeId: notice.noticeId }, "voucher redeemed");
    }
    return outcome;
  }

  /**
   * One round of the status poll: claims up to `batchSize` issued, unredeemed vouchers whose poll is due and asks
   * their channel; a redemption whose notice was lost is recorded as the notice would have. Answers how many
   * vouchers it claimed and how many redemptions it found.
   */
  async pollStatuses(batchSize: number): Promise<{ claimed: number; found: number }> {
    const due = await this.deps.store.claimDuePolls(this.deps.clock.now(), this.deps.statusPollIntervalMs, batchSize);
    let found = 0;
    for (const voucher of due) {
      if (!voucher.voucherNo) continue;
      try {
        const at = await this.codeAtChannel(voucher);
        if (!at) continue;
        const status = await at.channel.queryCode(at.code);
        if (status.status !== "REDEEMED") continue;
        if (await this.deps.store.recordRedeemed(voucher, status.redeemedAt ?? this.deps.clock.now(), null)) {
          found += 1;
          this.deps.logger.info({ orderNo: voucher.orderNo }, "voucher redemption found by the status poll");
        }
      } catch (err) {
        // The next round polls it again; one channel's failure does not stop the others.
        this.deps.logger.warn({ orderNo: voucher.orderNo, err }, "voucher status poll failed");
      }
    }
    if (found > 0) this.deps.eventsWritten();
    return { claimed: due.length, found };
  }

  async get(orderNo: string): Promise<VoucherRecord> {
    const voucher = await this.deps.store.find(orderNo);
    if (!voucher) throw voucherError(VoucherError.NOT_FOUND, `no voucher for order ${orderNo}`);
    return voucher;
  }

  private channel(name: string): SendChannel {
    const channel = this.deps.channels.get(name);
    if (!channel) throw voucherError(VoucherError.PARAMETER_INVALID, `unknown send channel ${name}`);
    return channel;
  }

  private async psbcSaleChannelId(): Promise<string> {
    const saleChannel = await this.deps.catalogue.findSaleChannelByName(PSBC_SALE_CHANNEL_NAME);
    if (!saleChannel) throw voucherError(VoucherError.REFERENCE_INVALID, `no sale channel named ${PSBC_SALE_CHANNEL_NAME} (README: the PSBC offer)`);
    return saleChannel.saleChannelId;
  }

  /**
   * Where the voucher's code is: at its code order's send channel; for a voucher made before migration 007, at
   * the adapter it names, under our order number. A pending one may have a code at its channel whose answer was
   * lost: its code order's, or, not recorded yet, the one the channel keeps under the order's tradeNo (the
   * send-channel order id it was asked under). Undefined when no channel was ever asked.
   */
  private async codeAtChannel(voucher: VoucherRecord): Promise<{ channel: SendChannel; code: CodeAtChannel } | undefined> {
    if (voucher.sendChannelId) {
      const channel = await this.deps.makeCodes.sendChannel(voucher.sendChannelId);
      return { channel, code: { channelRef: voucher.channelRef, code: voucher.voucherNo ?? "" } };
    }
    if (voucher.sendChannel !== "") return { channel: this.channel(voucher.sendChannel), code: { channelRef: voucher.channelRef, code: voucher.voucherNo ?? "" } };
    const order = await this.codeOrderOf(voucher);
    if (!order) return undefined;
    const channel = await this.deps.makeCodes.sendChannel(order.sendChannelId);
    const [made] = order.codes;
    return { channel, code: made ? { channelRef: made.channelRef, code: made.code } : { channelRef: order.tradeNo, code: "" } };
  }

  /**
   * A voided or expired voucher without a code whose code order made one all the same (the stray of a race whose
   * void at the channel failed): voided at the channel now. One read, only on this rare path.
   */
  private async voidStrayCodeOf(voucher: VoucherRecord): Promise<void> {
    const order = await this.codeOrderOf(voucher);
    const [made] = order?.codes ?? [];
    if (order && made) await this.voidStrayCode(voucher, order.sendChannelId, made);
  }

  private async voidStrayCode(voucher: VoucherRecord, sendChannelId: string, code: CodeAtChannel): Promise<void> {
    try {
      await (await this.deps.makeCodes.sendChannel(sendChannelId)).voidCode(code);
      this.deps.logger.warn({ orderNo: voucher.orderNo, keyStatus: voucher.keyStatus }, "a code made while its voucher was voided or expired was voided at its channel");
    } catch (err) {
      if (err instanceof VoucherAlreadyRedeemed) {
        // Redeemed before we could void it: the customer used a cancelled or expired service; an operator must look.
        this.deps.logger.error({ orderNo: voucher.orderNo, keyStatus: voucher.keyStatus }, "a code made while its voucher was voided or expired was redeemed before its void");
        return;
      }
      await this.failed(voucher.orderNo, "stray code void", err);
      throw voucherError(VoucherError.CHANNEL_FAILED, `send channel failed to void the code made while the voucher was ${voucher.keyStatus === KeyStatus.VOIDED ? "voided" : "expired"}; a retry voids it`);
    }
  }

  /** The voucher's make-code order of the PSBC sale channel, if one was ever asked for. */
  private async codeOrderOf(voucher: VoucherRecord): Promise<CodeOrderRecord | undefined> {
    const saleChannel = await this.deps.catalogue.findSaleChannelByName(PSBC_SALE_CHANNEL_NAME);
    return saleChannel ? this.deps.makeCodes.find(saleChannel.saleChannelId, voucher.orderNo) : undefined;
  }

  /** Voids at the channel; one the customer redeemed first is recorded redeemed and answers REDEEMED. */
  private async voidAtChannel(voucher: VoucherRecord, step: string): Promise<void> {
    try {
      const at = await this.codeAtChannel(voucher);
      if (at) await at.channel.voidCode(at.code);
    } catch (err) {
      if (err instanceof VoucherAlreadyRedeemed) {
        // The channel did not say when: our clock's now stands in for the usage time.
        if (await this.deps.store.recordRedeemed(voucher, this.deps.clock.now(), null)) this.deps.eventsWritten();
        throw voucherError(VoucherError.REDEEMED, "voucher redeemed");
      }
      await this.failed(voucher.orderNo, step, err);
      throw voucherError(VoucherError.CHANNEL_FAILED, `send channel ${voucher.sendChannel || "of the code order"} failed to ${step}`);
    }
  }

  private async failed(orderNo: string, step: string, failure: unknown): Promise<void> {
    // A make-code failure keeps the channel's own error as its cause: that is what an operator needs to read.
    const err = failure instanceof ConnectError && failure.cause !== undefined ? failure.cause : failure;
    this.deps.logger.warn({ orderNo, err }, `voucher ${step} failed; a retry resumes`);
    await this.deps.store.recordFailure(orderNo, `${step}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Voided or expired: a code of it must not be live at its channel. */
function isDead(voucher: VoucherRecord): boolean {
  return voucher.keyStatus === KeyStatus.VOIDED || voucher.keyStatus === KeyStatus.EXPIRED;
}

/**
 * The PSBC booking's make-code order: one code of the service type's template under our order number, valid from
 * the business day the voucher was first asked for until at least the booking's expiry. Every field comes from
 * the voucher row or the booking, so a retry is the same request (the code order's repeat, not a DUPLICATE).
 */
export function psbcMakeCodeRequest(saleChannelId: string, voucher: VoucherRecord, validUntil: Date): MakeCodeRequest {
  return create(MakeCodeRequestSchema, {
    saleChannelId,
    saleChannelOrderId: voucher.orderNo,
    requestId: voucher.orderNo,
    item: {
      saleChannelItemId: voucher.orderNo,
      commissionDate: "0",
      validDays: validDaysCovering(validUntil, voucher.createdAt),
      ticketId: voucher.templateId,
      codeNum: 1,
    },
  });
}

/** A make-code failure as the voucher's caller acts on it (ISSUE_FAILURE_OF); other errors as they are. */
function issueFailure(err: unknown): unknown {
  const reason = reasonOf(err, CodeErrorSchema);
  if (reason === undefined) return err;
  const { rawMessage: message, cause } = ConnectError.from(err);
  if (reason === CodeError.CHANNEL_FAILED) {
    // A refusal for good is told apart, so the order does not retry the same request into the same wall.
    if (cause instanceof UpstreamError && !cause.retryable) return voucherError(VoucherError.CHANNEL_REJECTED, `${message}: refused`);
  }
  return voucherError(ISSUE_FAILURE_OF[reason], message);
}
