/**
 * A voucher's key status: where it is in its life at its send channel. The numbers are the PSBC contract's
 * KeyCodeStatus, as the voucher RPC's `key_status` carries them; the order service keeps its own copy of the
 * status for PSBC (`services/order/statuses.ts`), fed by this service's answers and events.
 */
export const KeyStatus = {
  PENDING: 0,
  NORMAL: 1,
  REDEEMED: 2,
  VOIDED: 3,
  EXPIRED: 4,
} as const;
export type KeyStatus = (typeof KeyStatus)[keyof typeof KeyStatus];
