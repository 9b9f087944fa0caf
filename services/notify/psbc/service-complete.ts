import { formatBusinessTime } from "../../common/clock.js";
import { postSigned, type UpstreamTarget } from "../../common/upstream-http.js";
import type { TaskType } from "../../../proto/gen/rights/notify/v1/notify_pb.js";
import type { DeliveryPort } from "../ports.js";
import { PSBC_NOTIFY_WIRE } from "./wire.js";

/**
 * Task type 1 over HTTP: the signed service-complete notice (psbc/wire.ts), bounded by `timeoutMs`, counted in
 * the upstream metrics (upstream="psbc", operation="complete").
 */
export function psbcServiceComplete(target: UpstreamTarget): DeliveryPort<TaskType.SERVICE_COMPLETE> {
  return {
    async deliver(notice) {
      await postSigned(PSBC_NOTIFY_WIRE, target, "complete", {
        orderNo: notice.orderNo,
        code: notice.code,
        type: notice.type,
        completedAt: formatBusinessTime(new Date(notice.usageTime)),
      });
    },
  };
}
