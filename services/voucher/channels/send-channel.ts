/**
 * A send channel (制码方): the platform that makes voucher codes for a make-code order and, for most, hosts their
 * redemption pages. Three adapters: Blue Brothers (`blue-brothers/`), the ESB (`esb/`) and WHALE's own generator
 * (`internal/`) for templates whose send channel is internal. Methods throw an `UpstreamError`
 * (`services/common/upstream-http.ts`) when the channel cannot be reached, times out or refuses.
 */
export interface SendChannel {
  /**
   * Makes `codeNum` codes of one order item. Idempotent by `sendChannelOrderId`: a repeat (a retry after a lost
   * answer) answers the same codes, never new ones. Each code's `url` is at most VOUCHER_URL_MAX_LENGTH.
   */
  makeCodes(order: MakeCodesOrder): Promise<MadeCode[]>;
  /** Idempotent; throws VoucherAlreadyRedeemed when the customer redeemed the code first. */
  voidCode(code: CodeAtChannel): Promise<void>;
  /** The code's status at the channel (the status poll); `redeemedAt` when it says so. */
  queryCode(code: CodeAtChannel): Promise<{ status: "NORMAL" | "REDEEMED" | "VOIDED"; redeemedAt?: Date }>;
}

export interface MakeCodesOrder {
  /** Our id of this order at the channel (≤ 64 characters): the idempotency key. */
  sendChannelOrderId: string;
  /** WHALE's trade number of the make-code (tradeNo), ≤ 64 characters. */
  whaleTradeNo: string;
  saleChannelId: string;
  sendChannelId: string;
  saleChannelItemId: string;
  /** What the channel makes: its template or product id (the template's productId, or Blue Brothers' template). */
  productRef: string;
  codeNum: number;
  /** How many times each code may be used. */
  useTimes: number;
  validStart: Date;
  validEnd: Date;
  /** When the make-code was accepted, by the platform's clock. */
  createdAt: Date;
  /** Blue Brothers keeps these for its reconciliation: the PSBC rights code and an opaque customer reference. */
  rightsCode?: string;
  customerRef?: string;
}

export interface MadeCode {
  code: string;
  /** Where the customer shows or redeems it (a QR page); "" when the channel gives none. */
  url: string;
  /** The channel's own reference of the code, for void and query (Blue Brothers: the outOrderNo it was made under). */
  channelRef: string;
}

export type CodeAtChannel = Pick<MadeCode, "code" | "channelRef">;

/** The PSBC contract's maxLength of the service URL we hand back (`data.url`). */
export const VOUCHER_URL_MAX_LENGTH = 125;

/** The customer redeemed the voucher before we could void it: the service is in effect. */
export class VoucherAlreadyRedeemed extends Error {
  override readonly name = "VoucherAlreadyRedeemed";

  constructor(readonly outOrderNo: string) {
    super(`voucher of order ${outOrderNo} already redeemed`);
  }
}
