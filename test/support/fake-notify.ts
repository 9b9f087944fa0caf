// A notify service that only keeps tasks in memory: the reconciliation tests create and list type-1 tasks through
// it as they would through the real one (CreateTasks skips a code with a task pending), without delivering any.
import { create } from "@bufbuild/protobuf";
import { NotifyService, TaskSchema, TaskState, type Task } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { listenPort } from "../../services/common/config.js";
import { defineService } from "../../services/common/service-descriptor.js";

export function fakeNotifyService() {
  const tasks: Task[] = [];
  const descriptor = defineService({
    name: "notify",
    schema: { name: "notify" },
    streams: [],
    config: { NOTIFY_PORT: listenPort({ default: 0 }) },
    needs: {},
    peers: [],
    start: () => ({
      routes: (router) =>
        router.service(NotifyService, {
          createTasks(req) {
            const outcomes = req.tasks.map((task) => {
              const code = task.payload.case === "serviceComplete" ? task.payload.value.code : "";
              const orderNo = task.payload.case === "serviceComplete" ? task.payload.value.orderNo : "";
              if (tasks.some((t) => t.code === code && t.type === task.type && t.state === TaskState.PENDING)) return { code, created: false, taskId: "" };
              const taskId = `T${tasks.length + 1}`;
              tasks.push(create(TaskSchema, { taskId, type: task.type, state: TaskState.PENDING, code, orderNo }));
              return { code, created: true, taskId };
            });
            return { outcomes };
          },
          listTasks(req) {
            return {
              tasks: tasks.filter(
                (t) => (!req.state || t.state === req.state) && (!req.type || t.type === req.type) && (req.codes.length === 0 || req.codes.includes(t.code)),
              ),
            };
          },
        }),
    }),
  });
  return { descriptor, tasks };
}
