// Typed events: a message type of proto/rights/events carries its subject in the (rights.events.v1.subject)
// option, so writing an event and consuming one both name the type, never a subject string.
import { create, fromBinary, getOption, hasOption, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { subject } from "../../proto/gen/rights/events/v1/subject_pb.js";

/** An event ready for the outbox: its subject and its encoded payload. */
export interface OutboxEvent {
  subject: string;
  data: Uint8Array;
}

/** The subject an event type is published on; a message type without the option is not an event. */
export function subjectOf(schema: DescMessage): string {
  if (!hasOption(schema, subject)) throw new Error(`${schema.typeName} has no (rights.events.v1.subject) option`);
  return getOption(schema, subject);
}

/** An event of type `schema` built from `init`, for withEvent/appendEvent. */
export function eventOf<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): OutboxEvent {
  return { subject: subjectOf(schema), data: toBinary(schema, create(schema, init)) };
}

/** Decodes a payload received on `schema`'s subject. */
export function decodeEvent<Desc extends DescMessage>(schema: Desc, data: Uint8Array): MessageShape<Desc> {
  return fromBinary(schema, data);
}
