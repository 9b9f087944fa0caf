// grpc.health.v1.Health: what Kubernetes probes and load balancers ask each service.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../../proto/gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

type Listener = (service: string, status: ServingStatus) => void;

/**
 * The name a liveness probe asks: SERVING for as long as the process answers, whatever its dependencies, so a pod
 * waiting for its database or draining is taken out of the endpoints (readiness, name "") but not restarted.
 */
export const LIVENESS = "liveness";

/**
 * Serving status per gRPC service name, plus the overall status under "" (the name probes ask by default).
 * A new status starts SERVING overall, as grpc-go's does; services register their names as they are served.
 */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>([
    ["", ServingStatus.SERVING],
    [LIVENESS, ServingStatus.SERVING],
  ]);
  private readonly listeners = new Set<Listener>();

  /** Makes `service` known with the overall status, unless it already has one. */
  register(service: string): void {
    if (!this.statuses.has(service)) this.set(service, this.get("") ?? ServingStatus.SERVING);
  }

  setServing(service: string, serving: boolean): void {
    this.set(service, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  }

  /** Every known service and the overall entry at once (starting up, dependencies lost, draining); not liveness. */
  setAll(serving: boolean): void {
    for (const service of [...this.statuses.keys()]) if (service !== LIVENESS) this.setServing(service, serving);
  }

  /** The status of `service`, or undefined when the name is unknown. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Calls `listener` on every change; returns the function that unsubscribes it. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const listener of this.listeners) listener(service, status);
  }
}

function response(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

export function healthService(status: HealthStatus): ServiceImpl<typeof Health> {
  return {
    check(request: HealthCheckRequest): HealthCheckResponse {
      const current = status.get(request.service);
      if (current === undefined) throw new ConnectError(`unknown service ${request.service}`, Code.NotFound);
      return response(current);
    },

    /** The current status, then every change, until the client goes away (the spec's SERVICE_UNKNOWN when unknown). */
    async *watch(request: HealthCheckRequest, context: HandlerContext): AsyncGenerator<HealthCheckResponse> {
      const pending: ServingStatus[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = status.onChange((service, changed) => {
        if (service !== request.service) return;
        pending.push(changed);
        wake?.();
      });
      const onAbort = () => wake?.();
      context.signal.addEventListener("abort", onAbort);
      try {
        let last = status.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
        yield response(last);
        while (!context.signal.aborted) {
          const next = pending.shift();
          if (next === undefined) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          // Only send real transitions, as the spec asks.
          if (next !== last) {
            last = next;
            yield response(next);
          }
        }
      } finally {
        unsubscribe();
        context.signal.removeEventListener("abort", onAbort);
      }
    },
  };
}

export function registerHealth(router: ConnectRouter, status: HealthStatus): void {
  router.service(Health, healthService(status));
}
