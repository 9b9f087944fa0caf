/**
 * The notify service's one call to the PSBC service open platform: 服务完成通知 (service complete), task type 1.
 *
 * ASSUMPTIONS, CONFIRM WITH PSBC (like every PSBC wire detail, see services/order/psbc/wire.ts):
 * - `POST <PSBC_BASE_URL>/openapi/rights/v1/service/complete`, JSON, signed with the same HMAC headers and app
 *   credentials as the order service's calls, answered with the same `respCode` envelope (HTTP 200);
 * - body `{ orderNo, code, type, completedAt }`: our order number, the rights code, the service type, and the
 *   time the customer used the service (the voucher's usage time), `yyyyMMddHHmmss` Asia/Shanghai;
 * - IDEMPOTENT by rights code: a notice for a code PSBC already holds as completed answers `000000` again. The
 *   notify service relies on it: a worker killed after PSBC took the notice but before recording it, or a lease
 *   that expired mid-call, sends the same notice again;
 * - `999999` (system busy), HTTP 5xx, a timeout or a lost connection: retry later (backoff);
 *   `200001` (never booked), `200002` (cancelled or expired at PSBC), `100002` (parameters), `100001`
 *   (signature): PSBC will answer the same again, so the task is dead at once, for an operator to look at.
 */
import type { PlatformWire } from "../../common/upstream-http.js";
import { PSBC_WIRE, type PsbcApi } from "../../order/psbc/wire.js";

export interface PsbcNotifyApi {
  complete: PsbcApi["complete"];
}
export type PsbcNotifyOperation = keyof PsbcNotifyApi;

/** The same envelope and codes as every PSBC call; only the notice's operation. */
export const PSBC_NOTIFY_WIRE: PlatformWire<PsbcNotifyApi> = {
  name: PSBC_WIRE.name,
  paths: { complete: PSBC_WIRE.paths.complete },
  outcome: PSBC_WIRE.outcome,
  isSuccess: PSBC_WIRE.isSuccess,
  isRetryable: PSBC_WIRE.isRetryable,
};
