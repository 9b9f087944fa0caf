import type { StreamSpec } from "../common/bus.js";

/** Each domain's events live in a stream of their own, named after the owning service. */
export const ORDER_STREAM: StreamSpec = { name: "ORDER", subjects: ["order.>"] };
export const VOUCHER_STREAM: StreamSpec = { name: "VOUCHER", subjects: ["voucher.>"] };
