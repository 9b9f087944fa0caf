import { setTimeout as sleep } from "node:timers/promises";

/** Polls `condition` until it holds; throws naming `what` once `timeoutMs` have passed. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}
