import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { GenEnum } from "@bufbuild/protobuf/codegenv2";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorDetailSchema, type CallFailure, type CallFailureSchema } from "../../proto/gen/rights/common/v1/error_pb.js";

export { Code, ConnectError };

/**
 * How a domain raises its failures: `reasons` is its proto enum (whose full name is the domain), `grpcCode` the
 * gRPC code each reason travels with, so plain gRPC clients see a meaningful status too. The error carries its
 * (domain, reason) as a typed detail.
 */
export function domainErrors<R extends number>(
  reasons: GenEnum<R>,
  grpcCode: Readonly<Record<R, Code>>,
): (reason: R, message: string, cause?: unknown) => ConnectError {
  // The cause stays in this process (an in-process caller may look at it); the wire carries the detail only.
  return (reason, message, cause) => {
    const detail = create(ErrorDetailSchema, { domain: reasons.typeName, reason: reasons.value[reason]?.name ?? String(reason) });
    return new ConnectError(message, grpcCode[reason], undefined, [{ desc: ErrorDetailSchema, value: detail }], cause);
  };
}

/** The (domain, reason) an error carries, raised here or on the other side of a gRPC call; undefined if none. */
export function errorDetailOf(err: unknown): { domain: string; reason: string } | undefined {
  const [detail] = ConnectError.from(err).findDetails(ErrorDetailSchema);
  return detail ? { domain: detail.domain, reason: detail.reason } : undefined;
}

/** A call's error as one item of a batch's answer carries it: its code, message and ErrorDetail. */
export function callFailureOf(err: ConnectError): MessageInitShape<typeof CallFailureSchema> {
  const [detail] = err.findDetails(ErrorDetailSchema);
  return { code: err.code, message: err.rawMessage, detail };
}

/** The ConnectError a batch's item carries, as the call on its own would have thrown it. */
export function errorOfCallFailure({ code, message, detail }: CallFailure): ConnectError {
  const known = code in Code ? (code as Code) : Code.Unknown;
  return new ConnectError(message, known, undefined, detail ? [{ desc: ErrorDetailSchema, value: detail }] : []);
}

/** The reason an error carries if it is one of `reasons`' domain; undefined for another domain's, or none. */
export function reasonOf<R extends number>(err: unknown, reasons: GenEnum<R>): R | undefined {
  const detail = errorDetailOf(err);
  if (detail?.domain !== reasons.typeName) return undefined;
  return reasons.values.find((value) => value.name === detail.reason)?.number as R | undefined;
}

/**
 * How a public contract answers domain failures: per domain it knows, an answer for every reason (a Record over
 * the domain's enum, so a new reason does not compile until the contract decides it), and one default for any
 * other domain or reason, so a new domain needs no answer from contracts that never see it.
 */
export class ReasonAnswers<A> {
  private readonly answers = new Map<string, A>();

  constructor(private readonly fallback: A) {}

  domain<R extends number>(reasons: GenEnum<R>, answers: Readonly<Record<R, A>>): this {
    for (const value of reasons.values) this.answers.set(key(reasons.typeName, value.name), answers[value.number as R]);
    return this;
  }

  answer(err: unknown): A {
    const detail = errorDetailOf(err);
    return (detail && this.answers.get(key(detail.domain, detail.reason))) ?? this.fallback;
  }
}

function key(domain: string, reason: string): string {
  return `${domain}/${reason}`;
}
