// Event consumers: a service's entry point beside its routes. Each event is handled at most once per consumer:
// the handler runs in a transaction that first records (consumer, event id) in `<schema>.processed_event`, so a
// redelivery or a re-publish of the same event finds the record and changes nothing, and a handler that throws
// rolls the record back with its change, so the redelivery handles it.
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { BusMessage, EventBus, Subscription } from "./bus.js";
import { checkedSchema, type Database, type Transaction } from "./database.js";
import { decodeEvent, subjectOf } from "./events.js";
import type { Logger } from "./logger.js";

/** What a handler knows of the delivery besides the payload. */
export interface EventDelivery {
  /** The event id (the outbox row id of the publisher). */
  id: string;
  subject: string;
  deliveryCount: number;
}

/** One event type a consumer handles; build it with `on`. */
export interface EventHandler {
  subject: string;
  /** Decodes the payload (throws when it does not decode) into the work to do in the transaction. */
  decode(data: Uint8Array): (tx: Transaction, delivery: EventDelivery) => Promise<void>;
}

/**
 * A durable consumer: its name (the JetStream durable, and the key of its processed events; unique in the
 * service, e.g. "notify-order-booked") and the event types it handles. Events it writes (appendEvent on `tx`)
 * commit with its change.
 */
export interface Consumer {
  durable: string;
  handlers: EventHandler[];
}

/** Handles events of type `schema` (a message of proto/rights/events with its subject option). */
export function on<Desc extends DescMessage>(
  schema: Desc,
  handle: (event: MessageShape<Desc>, tx: Transaction, delivery: EventDelivery) => Promise<void>,
): EventHandler {
  return {
    subject: subjectOf(schema),
    decode(data) {
      const event = decodeEvent(schema, data);
      return (tx, delivery) => handle(event, tx, delivery);
    },
  };
}

export interface ConsumerContext {
  db: Database;
  /** The service's schema, where its processed_event table is. */
  schema: string;
  logger: Logger;
  /** Tells the outbox relay that a commit wrote events. */
  eventsWritten(): void;
}

/** The bus handler of `consumer`: each event once, in one transaction with its processed-event record. */
export function handleOnce(consumer: Consumer, context: ConsumerContext): (message: BusMessage) => Promise<void> {
  const { db, logger } = context;
  const handlers = new Map(consumer.handlers.map((handler) => [handler.subject, handler]));
  const record = `INSERT INTO ${checkedSchema(context.schema)}.processed_event (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`;
  return async (message) => {
    const handler = handlers.get(message.subject);
    if (!handler) return;
    const delivery: EventDelivery = { id: message.id, subject: message.subject, deliveryCount: message.deliveryCount };
    let work: ReturnType<EventHandler["decode"]>;
    try {
      work = handler.decode(message.data);
    } catch (err) {
      // A payload that does not decode never will: log it and let it go rather than redeliver it for ever.
      logger.error({ consumer: consumer.durable, ...delivery, error: err instanceof Error ? err.message : String(err) }, "event payload does not decode; skipped");
      return;
    }
    const handled = await db.transaction(async (tx) => {
      const { rowCount } = await tx.query(record, [consumer.durable, message.id]);
      if (rowCount === 0) return false;
      await work(tx, delivery);
      return true;
    });
    if (handled) context.eventsWritten();
    else logger.debug({ consumer: consumer.durable, ...delivery }, "event already handled");
  };
}

/** Subscribes each consumer durably; returns what stops them all. */
export async function startConsumers(bus: EventBus, consumers: readonly Consumer[], context: ConsumerContext): Promise<Subscription[]> {
  const subscriptions: Subscription[] = [];
  for (const consumer of consumers) {
    subscriptions.push(
      await bus.subscribe({
        durable: consumer.durable,
        subjects: consumer.handlers.map((handler) => handler.subject),
        handler: handleOnce(consumer, context),
      }),
    );
  }
  return subscriptions;
}
