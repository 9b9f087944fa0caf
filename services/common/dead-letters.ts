// The operator's way back for events a consumer gave up on (the DEAD stream, `dead.<subject>`): list them, and
// replay them once the cause is fixed. A replay publishes the event again to its own subject with its own id, so
// every durable of that subject gets it again and each consumer's processed-event record makes it a no-op where
// it was handled already (those records outlive the streams' messages: retention.ts); then the dead letter is
// deleted. Only the cluster's bus has dead letters to replay: the in-process bus keeps none across a restart.
import { connect, headers, type JetStreamManager, type NatsConnection, type StoredMsg } from "nats";
import { DEAD_LETTER_HEADERS, DEAD_LETTER_STREAM, REPLAYED_EVENT_ID_HEADER } from "./bus.js";

const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 5_000;
const DEAD_PREFIX = "dead.";
/**
 * Sequence numbers read at once: the stream is read in windows of this many concurrent gets, so a stream of
 * many thousands costs a round trip per window, not per message (a gap, replayed or aged out, is one 404).
 */
const SCAN_WINDOW = 64;

export interface DeadLetter {
  /** Its position in the DEAD stream. */
  seq: number;
  /** The event's own subject. */
  subject: string;
  eventId: string;
  /** The durable that gave up on it, after how many deliveries, and its last error. */
  consumer: string;
  deliveries: number;
  error: string;
  deadAt: Date;
}

export interface DeadLetterQuery {
  /** Only the dead letters of this durable. */
  consumer?: string;
  /** At most this many, oldest first. */
  limit: number;
}

function deadLetterOf(message: StoredMsg): DeadLetter {
  const header = (name: string) => message.header.get(name) ?? "";
  return {
    seq: message.seq,
    subject: message.subject.slice(DEAD_PREFIX.length),
    eventId: header(DEAD_LETTER_HEADERS.eventId),
    consumer: header(DEAD_LETTER_HEADERS.consumer),
    deliveries: Number(header(DEAD_LETTER_HEADERS.deliveries)) || 0,
    error: header(DEAD_LETTER_HEADERS.error),
    deadAt: message.time,
  };
}

async function withJetStream<T>(url: string, work: (nc: NatsConnection, jsm: JetStreamManager) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: url, name: "ops-dead-letters", timeout: CONNECT_TIMEOUT_MS });
  try {
    return await work(nc, await nc.jetstreamManager({ timeout: REQUEST_TIMEOUT_MS }));
  } finally {
    await nc.close();
  }
}

const notFound = (err: unknown) => (err as { code?: unknown }).code === "404";

/** The dead letters matching `query`, oldest first, each with its stored message. */
async function* scan(jsm: JetStreamManager, query: DeadLetterQuery): AsyncGenerator<{ letter: DeadLetter; message: StoredMsg }> {
  let state;
  try {
    ({ state } = await jsm.streams.info(DEAD_LETTER_STREAM.name));
  } catch (err) {
    // No bus has declared it yet: nothing ever died.
    if (notFound(err)) return;
    throw err;
  }
  let found = 0;
  for (let from = state.first_seq; from <= state.last_seq; from += SCAN_WINDOW) {
    const window = Array.from({ length: Math.min(SCAN_WINDOW, state.last_seq - from + 1) }, (_, i) =>
      jsm.streams.getMessage(DEAD_LETTER_STREAM.name, { seq: from + i }).catch((err: unknown) => {
        // Deleted (replayed before) or aged out: a gap.
        if (notFound(err)) return undefined;
        throw err;
      }),
    );
    for (const message of await Promise.all(window)) {
      if (!message) continue;
      const letter = deadLetterOf(message);
      if (query.consumer !== undefined && letter.consumer !== query.consumer) continue;
      yield { letter, message };
      found += 1;
      if (found >= query.limit) return;
    }
  }
}

export function listDeadLetters(url: string, query: DeadLetterQuery): Promise<DeadLetter[]> {
  return withJetStream(url, async (_nc, jsm) => {
    const letters: DeadLetter[] = [];
    for await (const { letter } of scan(jsm, query)) letters.push(letter);
    return letters;
  });
}

/**
 * Publishes each matching dead letter's event again (its subject, id, payload and trace; not the dead letter's
 * own headers) and deletes the dead letter once the stream has it; stops at the first failure, so what is left
 * is still there to replay. Answers the dead letters replayed.
 */
export function replayDeadLetters(url: string, query: DeadLetterQuery): Promise<DeadLetter[]> {
  return withJetStream(url, async (nc, jsm) => {
    const js = nc.jetstream({ timeout: REQUEST_TIMEOUT_MS });
    const replayed: DeadLetter[] = [];
    const own = new Set<string>([...Object.values(DEAD_LETTER_HEADERS), "Nats-Msg-Id"].map((name) => name.toLowerCase()));
    for await (const { letter, message } of scan(jsm, query)) {
      const h = headers();
      for (const [key, values] of message.header) if (!own.has(key.toLowerCase())) for (const value of values) h.append(key, value);
      // Consumers read the event's id from this header (a consumer that handled it finds its record), while the
      // message id is the dead letter's: the event's own would be dropped inside the duplicate window, and a
      // replay cut short before the delete, run again, is dropped as the duplicate it is.
      h.set(REPLAYED_EVENT_ID_HEADER, letter.eventId);
      await js.publish(letter.subject, message.data, { msgID: `${DEAD_LETTER_STREAM.name}:${letter.seq}`, headers: h });
      await jsm.streams.deleteMessage(DEAD_LETTER_STREAM.name, letter.seq);
      replayed.push(letter);
    }
    return replayed;
  });
}
