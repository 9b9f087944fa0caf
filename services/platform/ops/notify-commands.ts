import { NotifyService, TaskState, TaskType, type Task } from "../../../proto/gen/rights/notify/v1/notify_pb.js";
import { optionalLimit, UsageError, type OpsCommand } from "./command.js";
import { formatTimestamp } from "../../common/clock.js";

const STATES: Record<string, TaskState> = { pending: TaskState.PENDING, delivered: TaskState.DELIVERED, dead: TaskState.DEAD };

function taskView(task: Task) {
  return {
    taskId: task.taskId,
    type: task.type,
    state: TaskState[task.state].toLowerCase(),
    orderNo: task.orderNo,
    code: task.code,
    attempts: task.attempts,
    nextAttemptAt: formatTimestamp(task.nextAttemptAt),
    lastError: task.lastError || undefined,
    createdAt: formatTimestamp(task.createdAt),
    deliveredAt: formatTimestamp(task.deliveredAt),
  };
}

/** `tasks` and `retry`: the notify service's tasks, and an operator's retry of a dead one. */
export const notifyCommands: OpsCommand[] = [
  {
    words: ["tasks"],
    usage: "tasks [--state pending|delivered|dead] [--type 1] [--code C[,C…]] [--limit N]   notification tasks, newest first",
    options: ["state", "type", "code", "limit"],
    positionals: 0,
    async run({ values }, context) {
      const state = typeof values.state === "string" ? STATES[values.state] : TaskState.UNSPECIFIED;
      if (state === undefined) throw new UsageError(`--state is one of ${Object.keys(STATES).join(", ")}`);
      const type = typeof values.type === "string" ? Number(values.type) : TaskType.UNSPECIFIED;
      if (!(type in TaskType)) throw new UsageError(`--type is a task type number (1 service complete)`);
      const limit = optionalLimit(values, 1000);
      const codes = typeof values.code === "string" ? values.code.split(",").filter(Boolean) : [];
      const { tasks } = await context.client("notify", NotifyService).listTasks({ state, type, codes, limit });
      context.print(tasks.map(taskView));
    },
  },
  {
    words: ["retry"],
    usage: "retry <taskId>                      a dead task pending again, its attempts reset (admin)",
    positionals: 1,
    async run({ positionals: [taskId] }, context) {
      if (!taskId) throw new UsageError("retry needs a task id (see `tasks --state dead`)");
      const { task } = await context.client("notify", NotifyService).retryTask({ taskId }, context.admin());
      context.print(task ? taskView(task) : undefined);
    },
  },
];
