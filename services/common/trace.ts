import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

/** What travels with one request through the gateway, every gRPC call and every log line. */
export interface TraceContext {
  traceId: string;
}

/** The gRPC metadata key that carries the traceId between processes. */
export const TRACE_HEADER = "x-trace-id";

const storage = new AsyncLocalStorage<TraceContext>();

export function runWithTrace<T>(traceId: string, fn: () => T): T {
  return storage.run({ traceId }, fn);
}

export function currentTraceId(): string | undefined {
  return storage.getStore()?.traceId;
}

/**
 * A new traceId: 32 hex characters (a UUID without dashes), within the contract's maxLength 32 and unique
 * across gateway replicas without coordination, which the contract allows ("雪花算法或UUID").
 */
export function newTraceId(): string {
  return randomUUID().replaceAll("-", "");
}

/** A traceId a caller may hand us: at most 32 characters, nothing that could break a log line. */
export function isValidTraceId(value: string): boolean {
  return /^[0-9A-Za-z_-]{1,32}$/.test(value);
}

/** The traceId a caller handed us when it is one we take, else a new one. */
export function traceIdOf(given: string | null | undefined): string {
  return given && isValidTraceId(given) ? given : newTraceId();
}
