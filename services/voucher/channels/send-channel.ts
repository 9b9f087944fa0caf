/**
 * A send channel (制码方): the platform that makes voucher codes and hosts their redemption pages. Blue
 * Brothers is the first (`blue-brothers/channel.ts`). Methods throw an `UpstreamError`
 * (`services/common/upstream-http.ts`) when the channel cannot be reached, times out or refuses.
 */
export interface SendChannel {
  /** Idempotent by `outOrderNo`: a repeat answers the same voucher. `url` is at most VOUCHER_URL_MAX_LENGTH. */
  issueVoucher(input: {
    outOrderNo: string;
    templateId: string;
    rightsCode: string;
    customerRef: string;
  }): Promise<{ voucherNo: string; url: string }>;
  /** Idempotent; throws VoucherAlreadyRedeemed when the customer redeemed the voucher first. */
  voidVoucher(input: { outOrderNo: string; voucherNo: string }): Promise<void>;
  /** The voucher's status at the channel (the status poll); `redeemedAt` when it says so. */
  queryVoucher(input: { outOrderNo: string; voucherNo: string }): Promise<{ status: "NORMAL" | "REDEEMED" | "VOIDED"; redeemedAt?: Date }>;
}

/** The PSBC contract's maxLength of the service URL we hand back (`data.url`). */
export const VOUCHER_URL_MAX_LENGTH = 125;

/** The customer redeemed the voucher before we could void it: the service is in effect. */
export class VoucherAlreadyRedeemed extends Error {
  override readonly name = "VoucherAlreadyRedeemed";

  constructor(readonly outOrderNo: string) {
    super(`voucher of order ${outOrderNo} already redeemed`);
  }
}
