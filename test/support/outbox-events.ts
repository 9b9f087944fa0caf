import type { DescMessage } from "@bufbuild/protobuf";
import { checkedSchema, type Queryable } from "../../services/common/database.js";
import { decodeEvent, subjectOf } from "../../services/common/events.js";

export interface OutboxEntry {
  subject: string;
  /** The decoded payload's fields. */
  event: Record<string, unknown>;
}

/**
 * The events a service's outbox holds about one order, oldest first. `payloads` are the event types the test
 * expects there (each names its order in `orderNo`); a row of any other subject fails the test.
 */
export async function outboxEventsOf(db: Queryable, schema: string, orderNo: string, payloads: readonly DescMessage[]): Promise<OutboxEntry[]> {
  const typeBySubject = new Map(payloads.map((payload) => [subjectOf(payload), payload]));
  const { rows } = await db.query<{ subject: string; payload: Uint8Array }>(
    `SELECT subject, payload FROM ${checkedSchema(schema)}.outbox ORDER BY created_at`,
  );
  return rows
    .map(({ subject, payload }) => {
      const type = typeBySubject.get(subject);
      if (!type) throw new Error(`unexpected event ${subject} in ${schema}.outbox`);
      return { subject, event: decodeEvent(type, payload) as unknown as Record<string, unknown> };
    })
    .filter(({ event }) => event.orderNo === orderNo);
}
