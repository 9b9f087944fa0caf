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
  type MsgHdrs,
  type NatsConnection,
} from "nats";
import { setTimeout as sleep } from "node:timers/promises";
import { withTimeout } from "./deadline.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { TRACE_HEADER, currentTraceId, newTraceId, runWithTrace, traceIdOf } from "./trace.js";

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
  /**
   * Whether what was published outlives this process until its consumers handled it (JetStream: true). The
   * in-process bus loses what they had not handled yet when the process stops, so the outbox relays publish their
   * recent events again at start (`OutboxRelayOptions.republishWithinMs`).
   */
  readonly durable: boolean;
  /** Publishes once; a second publish with the same id inside the duplicate window is dropped by the server. */
  publish(subject: string, id: string, data: Uint8Array): Promise<void>;
  /**
   * A durable consumer: the handler's resolve acks the message, a throw naks it for redelivery with backoff; a
   * message whose handler threw on its `maxDeliveries`th delivery is published to `dead.<subject>` (the DEAD
   * stream, with its headers) and acked, so one poison message does not come back for ever.
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
  /** First redelivery delay after a handler throws; doubles per delivery up to 5 minutes. Default 1 s. */
  retryBaseMs?: number;
  /** Counts each consumer's handled, redelivered and dead-lettered events. */
  metrics?: Metrics;
  /** Deliveries of one message before it is dead-lettered. Default 20 (about an hour of failing). */
  maxDeliveries?: number;
  /** A handler still running after this long counts as failed (it is not stopped). Default 2 minutes. */
  handlerTimeLimitMs?: number;
  /** How long the server waits for a message's ack before it delivers it again (its consumer died). Default 30 s. */
  ackWaitMs?: number;
  /**
   * The deployment these streams belong to (PLATFORM_INSTANCE), written on each stream: connecting to streams
   * another instance declared fails (StreamsOwnedElsewhere), since their durables would share its events.
   * Absent: no check.
   */
  instance?: string;
}

/** Streams of the same names that another deployment declared on this NATS account. */
export class StreamsOwnedElsewhere extends Error {
  override readonly name = "StreamsOwnedElsewhere";
}

/** A stream's description: who declared it. */
const OWNER_PREFIX = "rights-platform instance ";

/** A replayed dead letter's event id (its message id is the dead letter's own: see dead-letters.ts). */
export const REPLAYED_EVENT_ID_HEADER = "Rights-Replayed-Event-Id";

/** Where messages that exhausted their deliveries go: `dead.<original subject>`, kept like any event. */
export const DEAD_LETTER_STREAM: StreamSpec = { name: "DEAD", subjects: ["dead.>"] };
export const deadLetterSubject = (subject: string): string => `dead.${subject}`;
/** Headers of a dead letter besides the trace: which consumer gave up, after how many deliveries, on what. */
export const DEAD_LETTER_HEADERS = {
  eventId: "Rights-Event-Id",
  consumer: "Rights-Consumer",
  deliveries: "Rights-Deliveries",
  error: "Rights-Error",
} as const;

/** Publishes with the same id inside this window are dropped (the server's duplicate window). */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** How long a stream keeps messages: long enough for a consumer to come back from an outage. */
const STREAM_MAX_AGE_MS = 7 * 24 * 60 * 60_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
/**
 * Messages a consumer pulls ahead of the one in hand. Each waits for the handlers before it with its ack wait
 * already running (only the one in hand tells the server it is being worked on), so at 8 a pulled message is in
 * hand before its 30 s unless the handlers average over ~4 s, a database in trouble. At 64 it took 0.5 s each:
 * the redeliveries then added work where the trouble was, and counted deliveries toward the dead letter that were
 * never tried. The pull rate costs nothing at a handler's ~1 ms (45k against 64k messages/s with handlers that
 * do nothing, on this machine).
 */
const PULL_AHEAD = 8;
/**
 * Redeliveries are at most this far apart: with 20 deliveries, a handler failing for about an hour (its database
 * failing over, a maintenance window) delays its events instead of dead-lettering them.
 */
const MAX_RETRY_DELAY_MS = 5 * 60_000;
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 5_000;
const PUBLISH_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;
/** Pause between attempts to re-create a consumer whose durable or stream was lost. */
const CONSUMER_RECREATE_MS = 1_000;
/** The in-process bus keeps this many messages, like a stream with a message limit. */
const LOCAL_RETAINED_MESSAGES = 10_000;

export async function connectEventBus(options: EventBusOptions): Promise<EventBus> {
  const retry: RetryPolicy = {
    baseMs: options.retryBaseMs ?? DEFAULT_RETRY.baseMs,
    maxDeliveries: options.maxDeliveries ?? DEFAULT_RETRY.maxDeliveries,
    timeLimitMs: options.handlerTimeLimitMs ?? DEFAULT_RETRY.timeLimitMs,
  };
  const streams = [...options.streams, DEAD_LETTER_STREAM];
  const bus = options.url
    ? await NatsEventBus.connect(options.url, { ...options, streams }, retry)
    : new LocalEventBus(streams, options.logger, retry);
  return options.metrics ? observed(bus, options.metrics, retry.maxDeliveries) : bus;
}

/**
 * Redelivery: the first after `baseMs`, doubling up to 5 minutes; dead-lettered after `maxDeliveries`. A handler
 * still running after `timeLimitMs` counts as failed, so one that hangs (a bug) does not hold its consumer, which
 * takes one message at a time, for ever.
 */
export interface RetryPolicy {
  baseMs: number;
  maxDeliveries: number;
  timeLimitMs: number;
}

/**
 * 1 s doubling to 5 minutes, 20 deliveries: about an hour of failing before an event is dead-lettered. Two minutes
 * a handler: every call a handler makes has a deadline of its own, far shorter.
 */
export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1_000, maxDeliveries: 20, timeLimitMs: 2 * 60_000 };

/** The same bus, with each consumer's outcomes (ack, nak, dead) and redeliveries counted. */
function observed(bus: EventBus, metrics: Metrics, maxDeliveries: number): EventBus {
  return {
    durable: bus.durable,
    publish: (subject, id, data) => bus.publish(subject, id, data),
    subscribe: ({ handler, ...options }) => {
      // Every outcome's series exists from the start at 0: a counter first seen at 1 (the first dead letter)
      // has no earlier sample, and increase() over it finds nothing to alert on.
      for (const outcome of ["ack", "nak", "dead"]) metrics.eventsHandled.inc({ consumer: options.durable, outcome }, 0);
      metrics.eventsRedelivered.inc({ consumer: options.durable }, 0);
      return bus.subscribe({
        ...options,
        async handler(message) {
          const consumer = options.durable;
          if (message.deliveryCount > 1) metrics.eventsRedelivered.inc({ consumer });
          try {
            await handler(message);
          } catch (err) {
            metrics.eventsHandled.inc({ consumer, outcome: message.deliveryCount >= maxDeliveries ? "dead" : "nak" });
            throw err;
          }
          metrics.eventsHandled.inc({ consumer, outcome: "ack" });
        },
      });
    },
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

/** The wait before the next delivery of a message whose `deliveryCount`th delivery failed. */
export function retryDelay(baseMs: number, deliveryCount: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** Math.max(0, deliveryCount - 1));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What a delivery is settled with: ack, a later redelivery, or a dead letter (which throws if not published). */
interface Settle {
  ack(): void;
  nak(delayMs: number): void;
  deadLetter(error: string): Promise<void>;
}

/**
 * Runs the handler in the trace of the request that caused the event (carried in a header), so one traceId
 * follows a change across services; acks on resolve, asks for a later redelivery on throw, and past
 * `maxDeliveries` dead-letters the message and acks it (if the dead letter cannot be published, a redelivery).
 */
async function runHandler(
  handler: (message: BusMessage) => Promise<void>,
  message: BusMessage,
  traceId: string | undefined,
  logger: Logger,
  retry: RetryPolicy,
  settle: Settle,
): Promise<void> {
  await runWithTrace(traceIdOf(traceId), async () => {
    try {
      // The handler is not stopped: should it still commit, its processed-event record makes the redelivery a no-op.
      await withTimeout(handler(message), retry.timeLimitMs, "event handler");
      settle.ack();
    } catch (err) {
      const fields = { subject: message.subject, eventId: message.id, deliveryCount: message.deliveryCount, error: messageOf(err) };
      if (message.deliveryCount >= retry.maxDeliveries) {
        try {
          await settle.deadLetter(messageOf(err));
          logger.error({ ...fields, deadLetter: deadLetterSubject(message.subject) }, "event handler failed its last delivery; dead-lettered");
          settle.ack();
          return;
        } catch (deadErr) {
          logger.error({ ...fields, deadLetterError: messageOf(deadErr) }, "event could not be dead-lettered; redelivering later");
        }
      }
      const delayMs = retryDelay(retry.baseMs, message.deliveryCount);
      logger.warn({ ...fields, delayMs }, "event handler failed; redelivering later");
      settle.nak(delayMs);
    }
  });
}

class NatsEventBus implements EventBus {
  readonly durable = true;
  private readonly subscriptions = new Set<Subscription>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly logger: Logger,
    private readonly retry: RetryPolicy,
    private readonly streams: StreamSpec[],
    private readonly ackWaitMs: number,
    private readonly instance: string | undefined,
  ) {}

  static async connect(url: string, options: EventBusOptions, retry: RetryPolicy): Promise<NatsEventBus> {
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
      for (const spec of options.streams) await ensureStream(jsm, spec, logger, options.instance);
      return new NatsEventBus(nc, jsm, nc.jetstream({ timeout: PUBLISH_TIMEOUT_MS }), logger, retry, options.streams, options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS, options.instance);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  async publish(subject: string, id: string, data: Uint8Array, extraHeaders?: MsgHdrs): Promise<void> {
    const traceId = currentTraceId();
    const h = extraHeaders ?? headers();
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
      await ensureStream(this.jsm, spec, this.logger, this.instance);
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
    let stopped = false;
    for (const [stream, streamSubjects] of byStream) {
      const loop = { messages: await this.consume(stream, durable, streamSubjects), done: Promise.resolve() };
      loop.done = (async () => {
        while (!stopped) {
          try {
            for await (const m of loop.messages) await this.deliver(m, durable, streamSubjects, handler);
          } catch (err) {
            if (!stopped) this.logger.warn({ stream, durable, error: messageOf(err) }, "event consumer lost");
          }
          // The durable (or its stream) was deleted, e.g. by a NATS restart with an empty store: declare both
          // again and go on consuming, rather than stay deaf until this process restarts.
          while (!stopped) {
            try {
              loop.messages = await this.consume(stream, durable, streamSubjects, true);
              this.logger.info({ stream, durable }, "event consumer re-created");
              break;
            } catch (err) {
              this.logger.warn({ stream, durable, error: messageOf(err) }, "event consumer cannot be re-created yet");
              await sleep(CONSUMER_RECREATE_MS);
            }
          }
        }
      })();
      loops.push(loop);
    }
    const subscription: Subscription = {
      stop: async () => {
        if (!this.subscriptions.delete(subscription)) return;
        stopped = true;
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

  /**
   * Declares the durable and pulls from it; an iterator that ends when the durable or its stream goes missing.
   * `redeclareStream`: declare the stream too (it may have been lost with the durable).
   */
  private async consume(stream: string, durable: string, subjects: string[], redeclareStream = false): Promise<ConsumerMessages> {
    const spec = this.streams.find((candidate) => candidate.name === stream);
    if (redeclareStream && spec) await ensureStream(this.jsm, spec, this.logger, this.instance);
    await this.ensureConsumer(stream, durable, subjects);
    const consumer = await this.js.consumers.get(stream, durable);
    return consumer.consume({ max_messages: PULL_AHEAD, expires: 30_000, abort_on_missing_resource: true });
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
      ack_wait: nanos(this.ackWaitMs),
      // The server never drops an event: past maxDeliveries the handler's failure dead-letters it (runHandler).
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

  private async deliver(m: JsMsg, durable: string, subjects: string[], handler: (message: BusMessage) => Promise<void>): Promise<void> {
    if (!subjects.some((pattern) => subjectMatches(pattern, m.subject))) {
      m.ack();
      return;
    }
    const message: BusMessage = {
      // Every publish of ours sets Nats-Msg-Id (a replay carries the event's own beside it); the stream position
      // identifies anything else.
      id: m.headers?.get(REPLAYED_EVENT_ID_HEADER) || m.headers?.get("Nats-Msg-Id") || `${m.info.stream}:${m.seq}`,
      subject: m.subject,
      data: m.data,
      deliveryCount: m.info.deliveryCount,
    };
    // A handler that runs long tells the server it is alive, so the message is not delivered again meanwhile.
    const working = setInterval(() => m.working(), this.ackWaitMs / 3);
    try {
      await runHandler(handler, message, m.headers?.get(TRACE_HEADER), this.logger, this.retry, {
        ack: () => m.ack(),
        nak: (delayMs) => m.nak(delayMs),
        deadLetter: async (error) => {
          // The original headers (trace, message id) go with it, and why it died.
          const h = headers();
          for (const [key, values] of m.headers ?? []) for (const value of values) h.append(key, value);
          h.set(DEAD_LETTER_HEADERS.eventId, message.id);
          h.set(DEAD_LETTER_HEADERS.consumer, durable);
          h.set(DEAD_LETTER_HEADERS.deliveries, String(message.deliveryCount));
          h.set(DEAD_LETTER_HEADERS.error, error.replace(/[\r\n]+/g, " ").slice(0, 500));
          await this.publish(deadLetterSubject(message.subject), `${durable}:${message.id}`, message.data, h);
        },
      });
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

/**
 * Declares the stream, or updates it to this configuration. With `instance`, the stream carries it: one declared by
 * another instance is refused; one declared before streams carried an owner is taken over.
 */
async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, logger: Logger, instance?: string): Promise<void> {
  const updatable = {
    subjects: spec.subjects,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_age: nanos(STREAM_MAX_AGE_MS),
    ...(instance ? { description: `${OWNER_PREFIX}${instance}` } : {}),
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
    if (instance) {
      const owner = (await jsm.streams.info(spec.name)).config.description ?? "";
      if (owner.startsWith(OWNER_PREFIX) && owner !== updatable.description) {
        throw new StreamsOwnedElsewhere(
          `stream ${spec.name} belongs to ${owner.slice(OWNER_PREFIX.length)}, not ${instance}: each deployment needs its own NATS account or server (README, Running on Kubernetes)`,
        );
      }
    }
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
  readonly durable = false;
  private readonly log: StoredMessage[] = [];
  private nextSeq = 1;
  private readonly seen = new Map<string, number>();
  private readonly durables = new Map<string, LocalDurable>();
  private readonly loops = new Set<{ wake: () => void; stop: () => Promise<void> }>();

  constructor(
    private readonly streams: StreamSpec[],
    private readonly logger: Logger,
    private readonly retry: RetryPolicy,
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
          this.retry,
          {
            ack: () => {},
            nak: (delayMs) => state.retries.push({ message, deliveryCount: deliveryCount + 1, dueAt: Date.now() + delayMs }),
            // The trace travels with the dead letter as it does with any message here.
            deadLetter: () => runWithTrace(message.traceId ?? newTraceId(), () => this.publish(deadLetterSubject(message.subject), `${options.durable}:${message.id}`, message.data)),
          },
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
