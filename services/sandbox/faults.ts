/**
 * A fault plan for a sandbox simulator: per operation, how the next calls misbehave.
 * - `fail`: answer the platform's "busy" error (each simulator documents how its platform says so);
 * - `reject`: answer the platform's parameter error, a refusal for good (retrying gets the same answer);
 * - `delay`: wait `delayMs` (default 1000), then answer normally;
 * - `timeout`: the call takes effect but its answer never comes (a lost answer, the case a client cannot tell
 *   apart from a call that never arrived); the connection is held until the client gives up or the sandbox
 *   closes.
 * `times` limits the plan to that many calls; without it the plan holds until cleared. The operation `*`
 * stands for every operation without a plan of its own.
 */
export type FaultMode = "fail" | "reject" | "delay" | "timeout";

export interface FaultPlan {
  mode: FaultMode;
  times?: number;
  delayMs?: number;
}

export const DEFAULT_FAULT_DELAY_MS = 1000;

const MODES: readonly FaultMode[] = ["fail", "reject", "delay", "timeout"];

export class InvalidFaultPlan extends Error {}

export const EVERY_OPERATION = "*";

export class Faults<Op extends string = string> {
  private readonly plans = new Map<Op | typeof EVERY_OPERATION, { mode: FaultMode; remaining: number; delayMs: number }>();

  constructor(readonly operations: readonly Op[]) {}

  set(op: Op | typeof EVERY_OPERATION, plan: FaultPlan): void {
    if (op !== EVERY_OPERATION && !this.operations.includes(op)) {
      throw new InvalidFaultPlan(`unknown operation ${String(op)}; one of ${this.operations.join(", ")}`);
    }
    if (!MODES.includes(plan.mode)) throw new InvalidFaultPlan(`mode must be one of ${MODES.join(", ")}`);
    if (plan.times !== undefined && !(Number.isInteger(plan.times) && plan.times > 0)) {
      throw new InvalidFaultPlan("times must be a positive integer");
    }
    if (plan.delayMs !== undefined && !(Number.isInteger(plan.delayMs) && plan.delayMs >= 0)) {
      throw new InvalidFaultPlan("delayMs must be a non-negative integer");
    }
    this.plans.set(op, {
      mode: plan.mode,
      remaining: plan.times ?? Number.POSITIVE_INFINITY,
      delayMs: plan.delayMs ?? DEFAULT_FAULT_DELAY_MS,
    });
  }

  /** Clears one operation's plan, or every plan. */
  clear(op?: Op | typeof EVERY_OPERATION): void {
    if (op === undefined) this.plans.clear();
    else this.plans.delete(op);
  }

  /** The fault of this call of `op`, if any; counts the call against the plan's `times`. */
  take(op: Op): { mode: FaultMode; delayMs: number } | undefined {
    if (this.plans.size === 0) return undefined; // the benchmark path
    const key = this.plans.has(op) ? op : EVERY_OPERATION;
    const plan = this.plans.get(key);
    if (!plan) return undefined;
    plan.remaining -= 1;
    if (plan.remaining <= 0) this.plans.delete(key);
    return { mode: plan.mode, delayMs: plan.delayMs };
  }

  /** Applies the body of `POST /_sandbox/faults`: `{ op, mode, times?, delayMs? }`. */
  setFromJson(body: unknown): void {
    if (typeof body !== "object" || body === null) throw new InvalidFaultPlan("expected { op, mode, times?, delayMs? }");
    const { op, mode, times, delayMs } = body as Record<string, unknown>;
    if (typeof op !== "string" || (op !== EVERY_OPERATION && !this.operations.includes(op as Op))) {
      throw new InvalidFaultPlan(`op must be one of ${this.operations.join(", ")}, ${EVERY_OPERATION}`);
    }
    if (typeof mode !== "string" || !MODES.includes(mode as FaultMode)) {
      throw new InvalidFaultPlan(`mode must be one of ${MODES.join(", ")}`);
    }
    if ((times != null && typeof times !== "number") || (delayMs != null && typeof delayMs !== "number")) {
      throw new InvalidFaultPlan("times and delayMs are numbers");
    }
    // JSON has no undefined: a null means "not given".
    this.set(op as Op, { mode: mode as FaultMode, times: times ?? undefined, delayMs: delayMs ?? undefined });
  }
}
