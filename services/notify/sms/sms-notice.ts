import { invalidResponse, postSigned, type UpstreamTarget } from "../../common/upstream-http.js";
import type { TaskType } from "../../../proto/gen/rights/notify/v1/notify_pb.js";
import type { DeliveryPort } from "../ports.js";
import { SMS_WIRE } from "./wire.js";

/**
 * Task type 2 over HTTP: the signed send (sms/wire.ts) to the task's own mobile number, with the notice id as
 * the provider's idempotency key, bounded by `timeoutMs`, counted in the upstream metrics (upstream="sms",
 * operation="send"). The text is never in an error: an UpstreamError carries the provider's code and message.
 */
export function smsNotice(target: UpstreamTarget): DeliveryPort<TaskType.SMS> {
  return {
    async deliver(notice) {
      const answer = await postSigned(SMS_WIRE, target, "send", { outId: notice.noticeId, mobile: notice.mobile, content: notice.message });
      if (typeof answer?.smsId !== "string" || answer.smsId === "") throw invalidResponse(SMS_WIRE.name, "send", "a sent SMS without its smsId");
    },
  };
}
