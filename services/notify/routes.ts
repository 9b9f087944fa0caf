import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Clock } from "../common/clock.js";
import { NotifyService, TaskState, TaskType, type NewTask, type SmsNotice } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { serviceCompletePayload, type SmsNoticePayload } from "./ports.js";
import { SMS_CONTENT_MAX_LENGTH, SMS_MOBILE } from "./sms/wire.js";
import { taskMessage, type NewTaskRow, type TaskStore } from "./task-store.js";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** CreateTasks takes at most this many at once (batch re-push sends at most 100). */
const MAX_NEW_TASKS = 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The gRPC face of the notify service. */
export function notifyServiceImpl(deps: { tasks: TaskStore; clock: Clock; taskCreated(): void }): ServiceImpl<typeof NotifyService> {
  const { tasks, clock } = deps;
  return {
    async createTasks(req) {
      if (req.tasks.length === 0 || req.tasks.length > MAX_NEW_TASKS) {
        throw new ConnectError(`1 to ${MAX_NEW_TASKS} tasks`, Code.InvalidArgument);
      }
      const rows = req.tasks.map(newTaskRow);
      const outcomes = [];
      for (const row of rows) {
        const taskId = await tasks.create(row, clock.now());
        outcomes.push({ code: row.code, created: taskId !== undefined, taskId: taskId ?? "" });
      }
      if (outcomes.some((outcome) => outcome.created)) deps.taskCreated();
      return { outcomes };
    },
    async listTasks(req) {
      if (req.limit < 0 || req.limit > MAX_LIMIT) throw new ConnectError(`limit is 1 to ${MAX_LIMIT} (0: ${DEFAULT_LIMIT})`, Code.InvalidArgument);
      const rows = await tasks.list({
        state: req.state === TaskState.UNSPECIFIED ? undefined : req.state,
        type: req.type === TaskType.UNSPECIFIED ? undefined : req.type,
        codes: req.codes,
        limit: req.limit || DEFAULT_LIMIT,
      });
      return { tasks: rows.map(taskMessage) };
    },
    async retryTask(req) {
      if (!UUID.test(req.taskId)) throw new ConnectError("task_id is a UUID", Code.InvalidArgument);
      const retried = await tasks.retry(req.taskId, clock.now());
      if (retried === "not-found") throw new ConnectError("no such task", Code.NotFound);
      if (retried === "not-dead") throw new ConnectError("only a dead task can be retried", Code.FailedPrecondition);
      if (retried === "waiting") throw new ConnectError("another task of the same type and code is already pending", Code.AlreadyExists);
      deps.taskCreated();
      return { task: taskMessage(retried) };
    },
  };
}

function newTaskRow(task: NewTask): NewTaskRow {
  if (task.type === TaskType.SMS && task.payload.case === "sms") return smsTaskRow(task.payload.value);
  if (task.type !== TaskType.SERVICE_COMPLETE || task.payload.case !== "serviceComplete") {
    throw new ConnectError("a task is type 1 with a service_complete payload or type 2 with an sms payload", Code.InvalidArgument);
  }
  const notice = task.payload.value;
  if (!notice.orderNo || !notice.code || !notice.type || !notice.usageTime) {
    throw new ConnectError("a service-complete task needs order_no, code, type and usage_time", Code.InvalidArgument);
  }
  const payload = serviceCompletePayload({ ...notice, usageTime: notice.usageTime });
  return { type: task.type, orderNo: notice.orderNo, code: notice.code, payload };
}

const NOTICE_ID = /^[0-9A-Za-z_.:-]{1,64}$/;
/** Printable text: no control character but a line break, no lone surrogate (PostgreSQL and the SMS gateway refuse them). */
const SMS_TEXT = /^(?:[^\p{Cc}\p{Cs}]|\n)+$/u;

/** An SMS notice's task: listed by its order and notice id; its text only in the payload. */
function smsTaskRow(notice: SmsNotice): NewTaskRow {
  const broken = (field: string, rule: string) => new ConnectError(`an sms task's ${field}: ${rule}`, Code.InvalidArgument);
  if (!NOTICE_ID.test(notice.noticeId)) throw broken("notice_id", "1 to 64 of 0-9 A-Z a-z _ . : -");
  if ([...notice.saleChannelOrderId].length < 1 || [...notice.saleChannelOrderId].length > 64 || !/^[^\p{Cc}\p{Cs}]+$/u.test(notice.saleChannelOrderId)) {
    throw broken("sale_channel_order_id", "1 to 64 printable characters");
  }
  if (!SMS_MOBILE.test(notice.mobile)) throw broken("mobile", "a mainland mobile number, 11 digits 1[3-9]...");
  if ([...notice.message].length > SMS_CONTENT_MAX_LENGTH || !SMS_TEXT.test(notice.message)) {
    throw broken("message", `1 to ${SMS_CONTENT_MAX_LENGTH} printable characters`);
  }
  const payload: SmsNoticePayload = { noticeId: notice.noticeId, saleChannelOrderId: notice.saleChannelOrderId, mobile: notice.mobile, message: notice.message };
  return { type: TaskType.SMS, orderNo: notice.saleChannelOrderId, code: notice.noticeId, payload };
}
