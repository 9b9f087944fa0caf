// Bounded redelivery: a message whose handler keeps failing is dead-lettered to dead.<subject> (with its headers)
// after maxDeliveries and acked; and, on NATS, a consumer whose durable was deleted is re-created.
import { randomBytes } from "node:crypto";
import { connect } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../test/support/until.js";
import { connectEventBus, DEAD_LETTER_STREAM, DEFAULT_RETRY, deadLetterSubject, retryDelay, type BusMessage, type EventBus } from "./bus.js";
import { createLogger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { currentTraceId, runWithTrace } from "./trace.js";

const logger = createLogger("bus-test", process.env.TEST_LOG_LEVEL ?? "silent");
const natsUrl = process.env.NATS_URL;
const encoder = new TextEncoder();

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups.length = 0;
});

async function openBus(metrics?: Metrics): Promise<{ bus: EventBus; prefix: string; stream: string }> {
  const tag = randomBytes(4).toString("hex");
  const stream = { name: `DL_${tag}`, subjects: [`dl${tag}.>`] };
  const bus = await connectEventBus({ url: natsUrl, streams: [stream], name: "bus-test", logger, retryBaseMs: 10, maxDeliveries: 3, metrics });
  cleanups.push(async () => {
    await bus.close();
    if (!natsUrl) return;
    const nc = await connect({ servers: natsUrl, timeout: 2_000 });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream.name).catch(() => false);
    await jsm.consumers.delete(DEAD_LETTER_STREAM.name, `dead-${tag}`).catch(() => false);
    await nc.close();
  });
  return { bus, prefix: `dl${tag}`, stream: stream.name };
}

describe("the default redelivery schedule", () => {
  it("keeps redelivering a failing event for about an hour before dead-lettering it, at most 5 minutes apart", () => {
    const delays = Array.from({ length: DEFAULT_RETRY.maxDeliveries - 1 }, (_, n) => retryDelay(DEFAULT_RETRY.baseMs, n + 1));
    expect(delays.slice(0, 4)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(Math.max(...delays)).toBe(5 * 60_000);
    // A database failover or a maintenance window of minutes delays events; only a handler failing for an hour
    // dead-letters them (2.5 minutes before 2026-12-02, and dead letters are not replayed by themselves).
    const total = delays.reduce((sum, delay) => sum + delay, 0);
    expect(total).toBeGreaterThan(55 * 60_000);
    expect(total).toBeLessThan(70 * 60_000);
  });
});

describe(`dead letters (${natsUrl ? "NATS JetStream" : "in-process"})`, () => {
  it("dead-letters a message after maxDeliveries failed deliveries, with its trace, and counts it", async () => {
    const metrics = new Metrics({ processMetrics: false });
    const { bus, prefix } = await openBus(metrics);
    const deliveries: number[] = [];
    await bus.subscribe({
      durable: "poisoned",
      subjects: [`${prefix}.event`],
      handler: async (m) => {
        deliveries.push(m.deliveryCount);
        throw new Error("handler always fails");
      },
    });
    const dead: Array<BusMessage & { traceId: string | undefined }> = [];
    await bus.subscribe({
      durable: `dead-${prefix.slice(2)}`,
      subjects: [deadLetterSubject(`${prefix}.event`)],
      handler: async (m) => {
        dead.push({ ...m, traceId: currentTraceId() });
      },
    });
    // Before any event, each outcome is a series at 0: the alert's increase() sees the first dead letter.
    const before = await metrics.registry.getSingleMetricAsString("events_handled_total");
    expect(before).toMatch(/events_handled_total\{consumer="poisoned",outcome="dead"\} 0/);
    await runWithTrace("deadbeefdeadbeefdeadbeefdeadbeef", () => bus.publish(`${prefix}.event`, `event-${prefix}`, encoder.encode("payload")));

    await until(() => dead.length === 1, 10_000, "the dead letter");
    expect(deliveries).toEqual([1, 2, 3]);
    expect(dead[0]).toMatchObject({ subject: `dead.${prefix}.event`, traceId: "deadbeefdeadbeefdeadbeefdeadbeef" });
    expect(Buffer.from(dead[0]?.data ?? []).toString()).toBe("payload");
    // Acked once dead-lettered: no fourth delivery.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(deliveries).toEqual([1, 2, 3]);
    const counted = await metrics.registry.getSingleMetricAsString("events_handled_total");
    expect(counted).toMatch(/events_handled_total\{consumer="poisoned",outcome="dead"\} 1/);
    expect(counted).toMatch(/events_handled_total\{consumer="poisoned",outcome="nak"\} 2/);
  });

  it.runIf(natsUrl)("keeps consuming after its durable is deleted on the server (re-created)", async () => {
    const { bus, prefix, stream } = await openBus();
    const received: string[] = [];
    await bus.subscribe({
      durable: "recreated",
      subjects: [`${prefix}.event`],
      handler: async (m) => {
        received.push(m.id);
      },
    });
    await bus.publish(`${prefix}.event`, "before", encoder.encode("1"));
    await until(() => received.includes("before"), 5_000, "the first event");

    const nc = await connect({ servers: natsUrl, timeout: 2_000 });
    await (await nc.jetstreamManager()).consumers.delete(stream, "recreated");
    await nc.close();

    await bus.publish(`${prefix}.event`, "after", encoder.encode("2"));
    await until(() => received.includes("after"), 15_000, "an event after the durable was deleted");
  });
});
