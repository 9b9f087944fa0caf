/** Order status of the PSBC contract (OrderStatus). */
export const OrderStatus = {
  NOT_BOOKED: 100,
  BOOKED: 200,
  COMPLETED: 300,
  CANCELLED: 400,
  EXPIRED: 500,
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

/** Voucher key status of the PSBC contract (KeyCodeStatus), as the order keeps it for PSBC. */
export const KeyStatus = {
  PENDING: 0,
  NORMAL: 1,
  REDEEMED: 2,
  VOIDED: 3,
  EXPIRED: 4,
} as const;
export type KeyStatus = (typeof KeyStatus)[keyof typeof KeyStatus];
