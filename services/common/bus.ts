// The event bus: NATS JetStream for the cluster path, an in-process bus with the same semantics when embedded.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  ErrorCode,
  NatsError,
  RetentionPolicy,
  StorageType,
  connect,
  headers,
  nanos,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from "nats";
import { withTimeout } from "./deadline.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { TRACE_HEADER, currentTraceId, isValidTraceId, newTraceId, runWithTrace } from "./trace.js";

export interface BusMessage {
  /** The event id (Nats-Msg-Id), which consumers use to stay idempotent. */
  id: string;
  subject: string;
  data: Uint8Array;
  /** How many times this message was delivered (1 the first time). */
  deliveryCount: number;
}

export interface Subscription {
  stop(): Promise<void>;
}

export interface EventBus {
  /** Publishes once; a second publish with the same id inside the duplicate window is dropped by the server. */
  publish(subject: string, id: string, data: Uint8Array): Promise<void>;
  /**
   * A durable consumer: the handler's resolve acks the message, a throw naks it for redelivery with backoff.
   */
  subscribe(options: { durable: string; subjects: string[]; handler: (message: BusMessage) => Promise<void> }): Promise<Subscription>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** One JetStream stream per owning domain: `ORDER` holds `order.>`, `VOUCHER` holds `voucher.>`. */
export interface StreamSpec {
  name: string;
  subjects: string[];
}

export interface EventBusOptions {
  /** nats://… for the cluster path; absent means the in-process bus (one process only). */
  url?: string;
  /** Streams this process publishes to or consumes from; created or updated on connect. */
  streams: StreamSpec[];
  /** The connection name the NATS server shows (the service name). */
  name: string;
  logger: Logger;
  /** First redelivery delay after a handler throws; doubles per delivery up to 30 s. Default 1 s. */
  retryBaseMs?: number;
  /** Counts each consumer's handled and redelivered events. */
  metrics?: Metrics;
}

/** Publishes with the same id inside this window are dropped (the server's duplicate window). */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** How long a stream keeps messages: long enough for a consumer to come back from an outage. */
const STREAM_MAX_AGE_MS = 7 * 24 * 60 * 60_000;
const ACK_WAIT_MS = 30_000;
/** A handler that runs long tells the server it is alive this often, so the message is not redelivered. */
const WORKING_INTERVAL_MS = 10_000;
const MAX_RETRY_DELAY_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 5_000;
const PUBLISH_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;
/** The in-process bus keeps this many messages, like a stream with a message limit. */
const LOCAL_RETAINED_MESSAGES = 10_000;

export async function connectEventBus(options: EventBusOptions): Promise<EventBus> {
  const retryBaseMs = options.retryBaseMs ?? 1_000;
  const bus = options.url ? await NatsEventBus.connect(options.url, options, retryBaseMs) : new LocalEventBus(options.streams, options.logger, retryBaseMs);
  return options.metrics ? observed(bus, options.metrics) : bus;
}

/** The same bus, with each consumer's outcomes and redeliveries counted. */
function observed(bus: EventBus, metrics: Metrics): EventBus {
  return {
    publish: (subject, id, data) => bus.publish(subject, id, data),
    subscribe: ({ handler, ...options }) =>
      bus.subscribe({
        ...options,
        async handler(message) {
          const consumer = options.durable;
          if (message.deliveryCount > 1) metrics.eventsRedelivered.inc({ consumer });
          try {
            await handler(message);
          } catch (err) {
            metrics.eventsHandled.inc({ consumer, outcome: "nak" });
            throw err;
          }
          metrics.eventsHandled.inc({ consumer, outcome: "ack" });
        },
      }),
    ping: () => bus.ping(),
    close: () => bus.close(),
  };
}

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

function retryDelay(baseMs: number, deliveryCount: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** Math.max(0, deliveryCount - 1));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs the handler in the trace of the request that caused the event (carried in a header), so one traceId
 * follows a change across services; acks on resolve, asks for a later redelivery on throw.
 */
async function runHandler(
  handler: (message: BusMessage) => Promise<void>,
  message: BusMessage,
  traceId: string | undefined,
  logger: Logger,
  retryBaseMs: number,
  ack: () => void,
  nak: (delayMs: number) => void,
): Promise<void> {
  const trace = traceId && isValidTraceId(traceId) ? traceId : newTraceId();
  await runWithTrace(trace, async () => {
    try {
      await handler(message);
      ack();
    } catch (err) {
      const delayMs = retryDelay(retryBaseMs, message.deliveryCount);
      logger.warn(
        { subject: message.subject, eventId: message.id, deliveryCount: message.deliveryCount, delayMs, error: messageOf(err) },
        "event handler failed; redelivering later",
      );
      nak(delayMs);
    }
  });
}

class NatsEventBus implements EventBus {
  private readonly subscriptions = new Set<Subscription>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly logger: Logger,
    private readonly retryBaseMs: number,
    private readonly streams: StreamSpec[],
  ) {}

  static async connect(url: string, options: EventBusOptions, retryBaseMs: number): Promise<NatsEventBus> {
    const { logger } = options;
    const nc = await connect({
      servers: url,
      name: options.name,
      timeout: CONNECT_TIMEOUT_MS,
      // Survive a NATS restart: keep reconnecting; publishes fail by their timeout meanwhile.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
    });
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect" || status.type === "error") logger.warn({ status: status.type, data: String(status.data) }, "nats connection");
        else if (status.type === "reconnect") logger.info({ status: status.type, data: String(status.data) }, "nats connection");
      }
    })();
    try {
      const jsm = await nc.jetstreamManager({ timeout: REQUEST_TIMEOUT_MS });
      for (const spec of options.streams) await ensureStream(jsm, spec, logger);
      return new NatsEventBus(nc, jsm, nc.jetstream({ timeout: PUBLISH_TIMEOUT_MS }), logger, retryBaseMs, options.streams);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  async publish(subject: string, id: string, data: Uint8Array): Promise<void> {
    const traceId = currentTraceId();
    const h = headers();
    if (traceId) h.set(TRACE_HEADER, traceId);
    const publish = () => this.js.publish(subject, data, { msgID: id, headers: h, timeout: PUBLISH_TIMEOUT_MS });
    try {
      await publish();
    } catch (err) {
      const spec = this.streams.find((stream) => stream.subjects.some((pattern) => subjectMatches(pattern, subject)));
      if (!spec || !(err instanceof NatsError && err.code === ErrorCode.NoResponders)) throw err;
      // No stream answered for the subject: the server lost it (a restart with an empty store). Declare it
      // again and publish once more, rather than failing until this process restarts.
      this.logger.warn({ stream: spec.name, subject }, "stream missing on the server; declaring it again");
      await ensureStream(this.jsm, spec, this.logger);
      await publish();
    }
  }

  async subscribe(options: { durable: string; subjects: string[]; handler: (message: BusMessage) => Promise<void> }): Promise<Subscription> {
    const { durable, subjects, handler } = options;
    // A durable lives in a stream; subjects of several streams get one consumer (same name) in each.
    const byStream = new Map<string, string[]>();
    for (const subject of subjects) {
      const stream = await this.jsm.streams.find(subject);
      byStream.set(stream, [...(byStream.get(stream) ?? []), subject]);
    }
    const loops: Array<{ messages: ConsumerMessages; done: Promise<void> }> = [];
    for (const [stream, streamSubjects] of byStream) {
      await this.ensureConsumer(stream, durable, streamSubjects);
      const consumer = await this.js.consumers.get(stream, durable);
      const messages = await consumer.consume({ max_messages: 64, expires: 30_000 });
      const done = (async () => {
        for await (const m of messages) await this.deliver(m, streamSubjects, handler);
      })().catch((err: unknown) => this.logger.error({ stream, durable, error: messageOf(err) }, "event consumer stopped"));
      loops.push({ messages, done });
    }
    const subscription: Subscription = {
      stop: async () => {
        if (!this.subscriptions.delete(subscription)) return;
        // Stop pulling, then let the message in hand finish (and be acked) before returning.
        await Promise.all(loops.map(({ messages }) => messages.close().catch(() => undefined)));
        await withTimeout(Promise.all(loops.map(({ done }) => done)), STOP_TIMEOUT_MS, `stopping consumer ${durable}`).catch((err: unknown) =>
          this.logger.warn({ durable, error: messageOf(err) }, "event handler still running at stop"),
        );
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  private async ensureConsumer(stream: string, durable: string, subjects: string[]): Promise<void> {
    const [only] = subjects;
    // Servers before 2.10 have no filter_subjects: such a consumer reads the whole stream, and `deliver`
    // acks what the subscription did not ask for.
    const filter: Partial<ConsumerConfig> =
      subjects.length === 1 && only !== undefined
        ? { filter_subject: only }
        : this.nc.info && versionAtLeast(this.nc.info.version, 2, 10)
          ? { filter_subjects: subjects }
          : {};
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ACK_WAIT_MS),
      // Never give up on an event: a poison message shows as warnings with a growing deliveryCount.
      max_deliver: -1,
      max_ack_pending: 1_000,
      ...filter,
    };
    try {
      await this.jsm.consumers.add(stream, config);
    } catch (err) {
      // The durable exists with another configuration (its subjects changed): update it in place.
      this.logger.info({ stream, durable, error: messageOf(err) }, "updating consumer");
      const { durable_name: _name, deliver_policy: _policy, ack_policy: _ack, ...updatable } = config;
      await this.jsm.consumers.update(stream, durable, updatable);
    }
  }

  private async deliver(m: JsMsg, subjects: string[], handler: (message: BusMessage) => Promise<void>): Promise<void> {
    if (!subjects.some((pattern) => subjectMatches(pattern, m.subject))) {
      m.ack();
      return;
    }
    const message: BusMessage = {
      // Every publish of ours sets Nats-Msg-Id; the stream position identifies anything else.
      id: m.headers?.get("Nats-Msg-Id") || `${m.info.stream}:${m.seq}`,
      subject: m.subject,
      data: m.data,
      deliveryCount: m.info.deliveryCount,
    };
    const working = setInterval(() => m.working(), WORKING_INTERVAL_MS);
    try {
      await runHandler(handler, message, m.headers?.get(TRACE_HEADER), this.logger, this.retryBaseMs, () => m.ack(), (delayMs) => m.nak(delayMs));
    } finally {
      clearInterval(working);
    }
  }

  async ping(): Promise<void> {
    if (this.nc.isClosed()) throw new Error("nats connection closed");
    await withTimeout(this.nc.flush(), REQUEST_TIMEOUT_MS, "nats ping");
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    if (this.nc.isClosed()) return;
    await withTimeout(this.nc.drain(), STOP_TIMEOUT_MS, "nats drain").catch(async (err: unknown) => {
      this.logger.warn({ error: messageOf(err) }, "nats drain failed; closing");
      await this.nc.close();
    });
  }
}

async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, logger: Logger): Promise<void> {
  const updatable = {
    subjects: spec.subjects,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_age: nanos(STREAM_MAX_AGE_MS),
  };
  try {
    // Creating with the same configuration is a no-op on the server, so replicas may race here.
    await jsm.streams.add({
      name: spec.name,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      ...updatable,
    });
  } catch (err) {
    logger.info({ stream: spec.name, error: messageOf(err) }, "updating stream");
    await jsm.streams.update(spec.name, updatable);
  }
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [ma = 0, mi = 0] = version.split(".").map((part) => Number.parseInt(part, 10));
  return ma > major || (ma === major && mi >= minor);
}

interface StoredMessage {
  seq: number;
  id: string;
  subject: string;
  data: Uint8Array;
  traceId: string | undefined;
}

/** A durable consumer's state, which outlives its subscriptions like a JetStream durable does. */
class LocalDurable {
  /** The next stream sequence this durable has not seen yet. */
  cursor = 1;
  readonly retries: Array<{ message: StoredMessage; deliveryCount: number; dueAt: number }> = [];

  constructor(public subjects: string[]) {}

  matches(subject: string): boolean {
    return this.subjects.some((pattern) => subjectMatches(pattern, subject));
  }
}

/**
 * The in-process bus: streams with a message limit, durable consumers delivering in order, redelivery with
 * backoff on a throw, and a duplicate window on ids. Publish never waits for handlers (they may need the same
 * single-connection database the publisher holds).
 */
class LocalEventBus implements EventBus {
  private readonly log: StoredMessage[] = [];
  private nextSeq = 1;
  private readonly seen = new Map<string, number>();
  private readonly durables = new Map<string, LocalDurable>();
  private readonly loops = new Set<{ wake: () => void; stop: () => Promise<void> }>();

  constructor(
    private readonly streams: StreamSpec[],
    private readonly logger: Logger,
    private readonly retryBaseMs: number,
  ) {}

  async publish(subject: string, id: string, data: Uint8Array): Promise<void> {
    if (!this.streams.some((stream) => stream.subjects.some((pattern) => subjectMatches(pattern, subject)))) {
      throw new Error(`no stream holds subject ${subject}`);
    }
    const now = Date.now();
    for (const [seenId, at] of this.seen) {
      if (now - at < DUPLICATE_WINDOW_MS) break;
      this.seen.delete(seenId);
    }
    if (this.seen.has(id)) return;
    this.seen.set(id, now);
    this.log.push({ seq: this.nextSeq++, id, subject, data, traceId: currentTraceId() });
    if (this.log.length > LOCAL_RETAINED_MESSAGES) this.log.shift();
    for (const loop of this.loops) loop.wake();
  }

  async subscribe(options: { durable: string; subjects: string[]; handler: (message: BusMessage) => Promise<void> }): Promise<Subscription> {
    let durable = this.durables.get(options.durable);
    if (durable) durable.subjects = options.subjects;
    else {
      durable = new LocalDurable(options.subjects);
      this.durables.set(options.durable, durable);
    }
    const state = durable;
    let stopped = false;
    let wakeUp: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const wake = () => {
      wakeUp?.();
    };
    const sleepUntilWork = (dueAt: number | undefined) =>
      new Promise<void>((resolve) => {
        wakeUp = resolve;
        if (dueAt !== undefined) timer = setTimeout(resolve, Math.max(0, dueAt - Date.now()));
      }).finally(() => {
        wakeUp = undefined;
        clearTimeout(timer);
      });
    const done = (async () => {
      while (!stopped) {
        const next = this.take(state);
        if ("wait" in next) {
          await sleepUntilWork(next.wait);
          continue;
        }
        const { message, deliveryCount } = next;
        await runHandler(
          options.handler,
          { id: message.id, subject: message.subject, data: message.data, deliveryCount },
          message.traceId,
          this.logger,
          this.retryBaseMs,
          () => {},
          (delayMs) => state.retries.push({ message, deliveryCount: deliveryCount + 1, dueAt: Date.now() + delayMs }),
        );
      }
    })();
    const loop = {
      wake,
      stop: async () => {
        stopped = true;
        wake();
        this.loops.delete(loop);
        await withTimeout(done, STOP_TIMEOUT_MS, `stopping consumer ${options.durable}`).catch((err: unknown) =>
          this.logger.warn({ durable: options.durable, error: messageOf(err) }, "event handler still running at stop"),
        );
      },
    };
    this.loops.add(loop);
    return { stop: loop.stop };
  }

  /** The next delivery for a durable: a due redelivery first, then the next new message; else when to look again. */
  private take(durable: LocalDurable): { message: StoredMessage; deliveryCount: number } | { wait: number | undefined } {
    const now = Date.now();
    const dueIndex = durable.retries.findIndex((retry) => retry.dueAt <= now);
    if (dueIndex >= 0) {
      const [retry] = durable.retries.splice(dueIndex, 1);
      if (retry) return { message: retry.message, deliveryCount: retry.deliveryCount };
    }
    const first = this.log[0];
    if (first) {
      for (let i = Math.max(0, durable.cursor - first.seq); i < this.log.length; i++) {
        const message = this.log[i];
        if (!message) break;
        durable.cursor = message.seq + 1;
        if (durable.matches(message.subject)) return { message, deliveryCount: 1 };
      }
    }
    const nextDue = durable.retries.reduce<number | undefined>((min, retry) => (min === undefined || retry.dueAt < min ? retry.dueAt : min), undefined);
    return { wait: nextDue };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await Promise.all([...this.loops].map((loop) => loop.stop()));
  }
}
