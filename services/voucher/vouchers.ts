import type { Logger } from "../common/logger.js";
import { KeyStatus } from "./key-status.js";
import { UpstreamError } from "../common/upstream-http.js";
import { VoucherAlreadyRedeemed, type SendChannel } from "./channels/send-channel.js";
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
    let issued: { voucherNo: string; url: string };
    try {
      issued = await channel.issueVoucher({
        outOrderNo: voucher.orderNo,
        templateId: voucher.templateId,
        rightsCode: voucher.rightsCode,
        customerRef: request.customerRef,
      });
    } catch (err) {
      await this.failed(voucher.orderNo, "issue", err);
      // A refusal for good is told apart, so the order does not retry the same request into the same wall.
      if (err instanceof UpstreamError && !err.retryable) {
        throw voucherError(VoucherError.CHANNEL_REJECTED, `send channel ${voucher.sendChannel} refused the issue`);
      }
      throw voucherError(VoucherError.CHANNEL_FAILED, `send channel ${voucher.sendChannel} failed to issue`);
    }
    const recorded = await this.deps.store.recordIssued(voucher, issued.voucherNo, issued.url);
    this.deps.eventsWritten();
    return recorded;
  }

  async void(orderNo: string): Promise<VoucherRecord> {
    const voucher = await this.deps.store.find(orderNo);
    if (!voucher) throw voucherError(VoucherError.NOT_FOUND, `no voucher for order ${orderNo}`);
    if (voucher.keyStatus === KeyStatus.VOIDED) return voucher;
    if (voucher.keyStatus === KeyStatus.REDEEMED) throw voucherError(VoucherError.REDEEMED, "voucher redeemed");
    try {
      await this.channel(voucher.sendChannel).voidVoucher({ outOrderNo: voucher.orderNo, voucherNo: voucher.voucherNo ?? "" });
    } catch (err) {
      if (err instanceof VoucherAlreadyRedeemed) {
        await this.deps.store.recordRedeemed(orderNo);
        throw voucherError(VoucherError.REDEEMED, "voucher redeemed");
      }
      await this.failed(orderNo, "void", err);
      throw voucherError(VoucherError.CHANNEL_FAILED, `send channel ${voucher.sendChannel} failed to void`);
    }
    const voided = await this.deps.store.recordVoided(voucher);
    this.deps.eventsWritten();
    return voided;
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

  private async failed(orderNo: string, step: string, err: unknown): Promise<void> {
    this.deps.logger.warn({ orderNo, err }, `voucher ${step} failed upstream; a retry resumes`);
    await this.deps.store.recordFailure(orderNo, `${step}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
