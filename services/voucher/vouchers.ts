import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import { KeyStatus } from "./key-status.js";
import { UpstreamError } from "../common/upstream-http.js";
import { VoucherAlreadyRedeemed, type MadeCode, type SendChannel } from "./channels/send-channel.js";
import { VoucherError, voucherError } from "./errors.js";
import type { VoucherRecord, VoucherStore } from "./voucher-store.js";

export interface IssueRequest {
  orderNo: string;
  templateId: string;
  sendChannel: string;
  rightsCode: string;
  customerRef: string;
}

/** Issue and void vouchers through the send channels (制码方), idempotent by our order number. */
export class Vouchers {
  constructor(
    private readonly deps: {
      store: VoucherStore;
      channels: ReadonlyMap<string, SendChannel>;
      logger: Logger;
      clock: Clock;
      eventsWritten(): void;
    },
  ) {}

  async issue(request: IssueRequest): Promise<VoucherRecord> {
    if (!request.orderNo || !request.templateId || !request.rightsCode) {
      throw voucherError(VoucherError.PARAMETER_INVALID, "order number, template and rights code are required");
    }
    const channel = this.channel(request.sendChannel);
    const voucher = await this.deps.store.findOrCreatePending(request);
    if (voucher.keyStatus !== KeyStatus.PENDING) {
      if (voucher.keyStatus === KeyStatus.VOIDED) throw voucherError(VoucherError.VOIDED, "voucher voided");
      return voucher;
    }
    let issued: MadeCode | undefined;
    try {
      // One code under our order number, the idempotency key at the channel: a retry never makes a second one.
      const now = this.deps.clock.now();
      [issued] = await channel.makeCodes({
        sendChannelOrderId: voucher.orderNo,
        whaleTradeNo: voucher.orderNo,
        saleChannelId: "PSBC",
        sendChannelId: voucher.sendChannel,
        saleChannelItemId: voucher.orderNo,
        productRef: voucher.templateId,
        codeNum: 1,
        useTimes: 1,
        validStart: now,
        validEnd: now,
        createdAt: now,
        rightsCode: voucher.rightsCode,
        customerRef: request.customerRef,
      });
      if (!issued) throw new UpstreamError("rejected", voucher.sendChannel, "makeCodes", "INVALID_RESPONSE", "no code made");
    } catch (err) {
      await this.failed(voucher.orderNo, "issue", err);
      // A refusal for good is told apart, so the order does not retry the same request into the same wall.
      if (err instanceof UpstreamError && !err.retryable) {
        throw voucherError(VoucherError.CHANNEL_REJECTED, `send channel ${voucher.sendChannel} refused the issue`);
      }
      throw voucherError(VoucherError.CHANNEL_FAILED, `send channel ${voucher.sendChannel} failed to issue`);
    }
    const recorded = await this.deps.store.recordIssued(voucher, issued.code, issued.url, this.deps.clock.now());
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
  async pollStatuses(intervalMs: number, batchSize: number): Promise<{ claimed: number; found: number }> {
    const due = await this.deps.store.claimDuePolls(this.deps.clock.now(), intervalMs, batchSize);
    let found = 0;
    for (const voucher of due) {
      if (!voucher.voucherNo) continue;
      try {
        const status = await this.channel(voucher.sendChannel).queryCode({ channelRef: voucher.orderNo, code: voucher.voucherNo });
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

  /** Voids at the channel; one the customer redeemed first is recorded redeemed and answers REDEEMED. */
  private async voidAtChannel(voucher: VoucherRecord, step: string): Promise<void> {
    try {
      await this.channel(voucher.sendChannel).voidCode({ channelRef: voucher.orderNo, code: voucher.voucherNo ?? "" });
    } catch (err) {
      if (err instanceof VoucherAlreadyRedeemed) {
        // The channel did not say when: our clock's now stands in for the usage time.
        if (await this.deps.store.recordRedeemed(voucher, this.deps.clock.now(), null)) this.deps.eventsWritten();
        throw voucherError(VoucherError.REDEEMED, "voucher redeemed");
      }
      await this.failed(voucher.orderNo, step, err);
      throw voucherError(VoucherError.CHANNEL_FAILED, `send channel ${voucher.sendChannel} failed to ${step}`);
    }
  }

  private async failed(orderNo: string, step: string, err: unknown): Promise<void> {
    this.deps.logger.warn({ orderNo, err }, `voucher ${step} failed upstream; a retry resumes`);
    await this.deps.store.recordFailure(orderNo, `${step}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
