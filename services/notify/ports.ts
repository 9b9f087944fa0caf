// How a task reaches its recipient: one delivery port per task type (PSBC's service-complete notice, SMS
// notices; channel callbacks add theirs beside them).
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampInstant } from "../common/clock.js";
import { TaskType } from "../../proto/gen/rights/notify/v1/notify_pb.js";

/** Task type 1's payload: what PSBC is told of a used service. */
export interface ServiceCompletePayload {
  orderNo: string;
  code: string;
  type: string;
  psbcOrderNo: string;
  /** ISO 8601: when the customer used the service (the voucher's usage time). */
  usageTime: string;
}

/** The payload of a notice as an event or an operator's request carries it (its usage time checked present). */
export function serviceCompletePayload(notice: Omit<ServiceCompletePayload, "usageTime"> & { usageTime: Timestamp }): ServiceCompletePayload {
  return {
    orderNo: notice.orderNo,
    code: notice.code,
    type: notice.type,
    psbcOrderNo: notice.psbcOrderNo,
    usageTime: timestampInstant(notice.usageTime).toISOString(),
  };
}

/** Task type 2's payload (notify.proto SmsNotice): the text goes to `mobile` and nowhere else. */
export interface SmsNoticePayload {
  noticeId: string;
  saleChannelOrderId: string;
  mobile: string;
  /** Codes included: never logged. */
  message: string;
}

export interface TaskPayloads {
  [TaskType.SERVICE_COMPLETE]: ServiceCompletePayload;
  [TaskType.SMS]: SmsNoticePayload;
}
export type DeliverableTaskType = keyof TaskPayloads;

/**
 * Delivers one task's payload; resolves once the recipient acknowledged it. Throws an UpstreamError: a
 * retryable one (timeout, unavailable) is tried again after a backoff, a rejection makes the task dead.
 * Recipients must take a repeated delivery as one (a killed worker's task is delivered again).
 */
export interface DeliveryPort<T extends DeliverableTaskType> {
  deliver(payload: TaskPayloads[T]): Promise<void>;
}

export type DeliveryPorts = { [T in DeliverableTaskType]: DeliveryPort<T> };

/** Whether a task type has a delivery port in this build. */
export function isDeliverable(type: number): type is DeliverableTaskType {
  return type === TaskType.SERVICE_COMPLETE || type === TaskType.SMS;
}
