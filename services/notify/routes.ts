import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Clock } from "../common/clock.js";
import { NotifyService, TaskState, TaskType, type NewTask } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { serviceCompletePayload } from "./ports.js";
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
  if (task.type !== TaskType.SERVICE_COMPLETE || task.payload.case !== "serviceComplete") {
    throw new ConnectError("only service-complete tasks (type 1, with a service_complete payload) can be created", Code.InvalidArgument);
  }
  const notice = task.payload.value;
  if (!notice.orderNo || !notice.code || !notice.type || !notice.usageTime) {
    throw new ConnectError("a service-complete task needs order_no, code, type and usage_time", Code.InvalidArgument);
  }
  const payload = serviceCompletePayload({ ...notice, usageTime: notice.usageTime });
  return { type: task.type, orderNo: notice.orderNo, code: notice.code, payload };
}
