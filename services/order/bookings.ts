import type { Client } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type ConnectError, reasonOf } from "../common/errors.js";
import { LeaseLost, type Lease, type LockService } from "../common/lock.js";
import type { Logger } from "../common/logger.js";
import { UpstreamError } from "../common/upstream-http.js";
import { VoucherError, VoucherErrorSchema } from "../../proto/gen/rights/voucher/v1/errors_pb.js";
import type { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import type { RightsEnvelope } from "../../proto/gen/rights/order/v1/order_pb.js";
import { OrderError, orderError } from "./errors.js";
import { OrderChanged, type BookingRequest, type OrderStore, type RightsOrder } from "./order-store.js";
import { isWellFormedEnvelope } from "./psbc/envelope.js";
import { isNotBookedAtPsbc, type PsbcPlatform } from "./psbc/platform.js";
import { decryptRightsRequest, InvalidRightsRequest, type RightsRequest } from "./psbc/rights-request.js";
import type { ServiceType, ServiceTypes } from "./service-types.js";
import { KeyStatus, OrderStatus } from "./statuses.js";

export interface BookingsDeps {
  serviceTypes: ServiceTypes;
  orders: OrderStore;
  lock: LockService;
  psbc: PsbcPlatform;
  vouchers: Client<typeof VoucherService>;
  /** A voucher call's own deadline (RPC_TIMEOUT_MS); less when the caller's deadline leaves less. */
  voucherTimeoutMs: number;
  /** A PSBC call's deadline (PSBC_TIMEOUT_MS): what a cancel keeps of its deadline for PSBC's cancel after the void. */
  psbcTimeoutMs: number;
  logger: Logger;
  /** Called after a transaction wrote events, so the outbox relay publishes them at once. */
  eventsWritten(): void;
  now?: () => Date;
}

export interface ExpiredPoints {
  tranIntglNum: number;
  ovdueIntglNum: number;
  noticeMsg: string;
}

/**
 * The code's lock is a lease renewed while the saga runs, so a crashed holder's codes are free within 5 s; a
 * holder that lost it stops before its next upstream call (`lease.assertHeld()`). Should two runners still overlap, the
 * unique code, PSBC's idempotent booking and the voucher service's idempotency by order number keep them from
 * booking twice.
 */
const LOCK_TTL_MS = 5_000;
/** Concurrent requests for one code wait this long for the first to finish, then get REQUEST_IN_PROGRESS. */
const LOCK_WAIT_MS = 3_000;
/** Kept from the caller's deadline for the booking's last statement and the answer's way back. */
const ANSWER_MARGIN_MS = 500;

/** The lease on a rights code that its order's sagas run under: appointment, cancel and the expiry job. */
export function acquireCodeLease(lock: LockService, code: string, waitMs = LOCK_WAIT_MS): Promise<Lease | null> {
  return lock.acquire(`code:${code}`, { ttlMs: LOCK_TTL_MS, waitMs });
}

/** The PSBC rights-order use cases: appointment, cancel, detail, expired-points query. */
export class Bookings {
  private readonly now: () => Date;

  constructor(private readonly deps: BookingsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * 服务预约: idempotent per rights code; resumes a booking that stopped after an earlier step.
   *
   * A rights code stays unique across service types (PSBC issues each code for one type), so a code can never
   * be booked twice under two types: an appointment naming a code booked under another type is refused with
   * the business error of an unsupported service, which tells the caller nothing of that order.
   *
   * `timeoutMs`: the caller's deadline, when it set one. The lock wait and PSBC's call (3 s each) may use most
   * of it, so the voucher call gets what is left, and the caller hears this answer rather than its own timeout.
   */
  async book(envelope: RightsEnvelope, timeoutMs?: number): Promise<RightsOrder> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const { serviceType, request } = await this.open(envelope);
    const { channel, tranChnl, instType, provinceInstNo, backUrl } = envelope;
    const booking: BookingRequest = { mac: request.mac, channel, tranChnl, instType, provinceInstNo, backUrl };
    // One statement before the lock: the order of the code, created if it had none. Creating needs no lock (the
    // unique code decides); running the saga does.
    const { order: known, created } = await this.deps.orders.findOrCreate({
      ...booking,
      code: request.code,
      type: serviceType.type,
      expireAt: new Date(this.now().getTime() + serviceType.validityDays * 86_400_000),
    });
    if (!this.belongsToCaller(known, serviceType, request)) throw this.refuse(known, serviceType, "appointment");
    if (isBooked(known)) return known; // the common retry needs no lock
    return this.withCodeLock(request.code, async (lease) => {
      // An order this request just created, its lock taken at the first try, is as it was created; any other
      // may have moved on under another holder. (Should one still slip in between, its steps' guards stop this
      // one: OrderChanged, answered like a held lock.)
      const current = created && lease.waited === false ? known : await this.deps.orders.findByCode(request.code);
      if (!current) throw new Error(`the order of ${request.code} vanished`);
      let order = current;
      // Created under another type or customer while this request waited for the lock.
      if (!this.belongsToCaller(order, serviceType, request)) throw this.refuse(order, serviceType, "appointment");
      if (isBooked(order)) return order;
      if (order.status === OrderStatus.CANCELLED) throw orderError(OrderError.SERVICE_CANCELLED, "service cancelled");
      await this.failIfExpired(order);
      // A cancel that voided the voucher and has yet to finish at PSBC is a cancel all the same.
      if (order.voucherVoidedAt) throw orderError(OrderError.SERVICE_CANCELLED, "service being cancelled");
      if (order.bookingRefusedAt) order = await this.deps.orders.restartRefusedBooking(order.orderNo, booking);

      if (!order.psbcBookedAt) {
        lease.assertHeld();
        // The order's request, not this one's: a retry resumes the booking it began, and the order (its mac, the
        // ledger's fields) must say what PSBC booked. Only a refused booking restarts with this request (above).
        const { psbcOrderNo } = await this.upstream(order, "PSBC booking", () =>
          this.deps.psbc.bookService({
            orderNo: order.orderNo,
            code: order.code,
            type: order.type,
            mac: order.mac,
            channel: order.channel,
            tranChnl: order.tranChnl,
            instType: order.instType,
            provinceInstNo: order.provinceInstNo,
          }),
          { restartOnRefusal: true },
        );
        order = await this.deps.orders.recordPsbcBooking(order.orderNo, psbcOrderNo);
      }

      lease.assertHeld();
      const { voucher } = await this.upstream(order, "voucher issue", () =>
        this.deps.vouchers.issueVoucher(
          {
            orderNo: order.orderNo,
            // The template names its send channel; the code is valid as long as the booking's rights.
            templateId: serviceType.voucherTemplateId,
            rightsCode: order.code,
            customerRef: order.mac,
            validUntil: timestampFromDate(order.expireAt),
          },
          { timeoutMs: this.voucherTimeoutMs(deadline) },
        ),
        { restartOnRefusal: true },
      );
      if (!voucher?.url) throw orderError(OrderError.UPSTREAM_FAILED, "voucher service returned no URL");
      // Recorded even if the lease ran out during the issue: stopping would leave the live voucher unrecorded and
      // unanswered. The record's guard stops it should a cancel or the expiry have moved the order on meanwhile.
      order = await this.deps.orders.completeBooking(order, voucher.voucherNo, voucher.url);
      this.deps.eventsWritten();
      this.deps.logger.info({ orderNo: order.orderNo }, "service booked");
      return order;
    });
  }

  /** 服务取消: only a booked service; voids the voucher, cancels at PSBC, status 400. Resumable. */
  /** `timeoutMs`: the caller's deadline, when it set one; the void gets what it leaves after PSBC's cancel. */
  async cancel(envelope: RightsEnvelope, timeoutMs?: number): Promise<RightsOrder> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const { serviceType, request } = await this.open(envelope);
    return this.withCodeLock(request.code, async (lease) => {
      let order = await this.deps.orders.findByCode(request.code);
      if (!order) throw orderError(OrderError.ORDER_NOT_FOUND, "order not found");
      if (!this.belongsToCaller(order, serviceType, request)) throw this.refuse(order, serviceType, "cancel");
      // The contract's rule 3 of cancel: only a booked service can be cancelled; a repeat is told it was.
      if (order.status === OrderStatus.CANCELLED) throw orderError(OrderError.SERVICE_CANCELLED, "service already cancelled");
      if (order.status === OrderStatus.COMPLETED || order.keyStatus === KeyStatus.REDEEMED) {
        throw orderError(OrderError.SERVICE_IN_EFFECT, "service in effect");
      }
      await this.failIfExpired(order);
      // A booking that stopped half-way (booked at PSBC, no voucher yet) is cancelled too, so PSBC is not
      // left holding a booking nobody can use; one never booked anywhere has nothing to cancel.
      if (order.status === OrderStatus.NOT_BOOKED && !order.psbcBookedAt) {
        throw orderError(OrderError.SERVICE_NOT_BOOKED, "service not booked");
      }

      // Whether PSBC still holds a booking to cancel: not when it reports none, or one already cancelled.
      let bookedAtPsbc = true;
      if (!order.psbcCancelledAt) {
        lease.assertHeld();
        const current = order;
        const { status } = await this.upstream(current, "PSBC status query", () =>
          this.deps.psbc.queryServiceStatus({ code: current.code, type: current.type }),
        );
        if (status === "COMPLETED") throw orderError(OrderError.SERVICE_IN_EFFECT, "service completed at PSBC");
        if (status === "EXPIRED") {
          // The voucher must not outlive its service: voided first, so the expired order answers no URL.
          if (!current.voucherVoidedAt) await this.voidVoucher(current);
          await this.deps.orders.markExpired(current.orderNo);
          throw orderError(OrderError.SERVICE_EXPIRED, "service expired at PSBC");
        }
        bookedAtPsbc = status === "BOOKED";
      }

      if (!order.voucherVoidedAt) {
        lease.assertHeld();
        const psbcCancelAfter = bookedAtPsbc && !order.psbcCancelledAt;
        order = await this.voidVoucher(order, this.voucherTimeoutMs(deadline, psbcCancelAfter ? this.deps.psbcTimeoutMs : 0));
      }

      if (!order.psbcCancelledAt) {
        lease.assertHeld();
        const current = order;
        if (bookedAtPsbc) {
          await this.upstream(current, "PSBC cancel", () =>
            this.deps.psbc.cancelService({ orderNo: current.orderNo, code: current.code, type: current.type }).catch((err: unknown) => {
              // 服务未预约 (its booking gone since the status query): nothing is left to cancel there.
              if (!isNotBookedAtPsbc(err)) throw err;
            }),
          );
        }
        order = await this.deps.orders.recordPsbcCancelled(order.orderNo);
      }

      lease.assertHeld();
      order = await this.deps.orders.completeCancel(order);
      this.deps.eventsWritten();
      this.deps.logger.info({ orderNo: order.orderNo }, "service cancelled");
      return order;
    });
  }

  /** 服务详情: the voucher URL of the rights code's order, as long as that voucher is not voided. */
  async detail(envelope: RightsEnvelope): Promise<RightsOrder & { voucherUrl: string }> {
    const { serviceType, request } = await this.open(envelope);
    const order = await this.deps.orders.findByCode(request.code);
    if (!order?.voucherUrl) throw orderError(OrderError.ORDER_NOT_FOUND, "order not found");
    if (!this.belongsToCaller(order, serviceType, request)) throw this.refuse(order, serviceType, "detail");
    // A voided voucher's URL leads nowhere: the caller is told why instead. An order a request found expired keeps
    // its voucher live until the expiry job voids it; a redemption meanwhile would reach a closed order. So does a
    // booked order past its date that the job has not come to yet (its voucher's validity ended with it); a
    // redeemed one stays, as the job leaves it.
    const due = order.status === OrderStatus.BOOKED && order.keyStatus !== KeyStatus.REDEEMED && order.expireAt.getTime() <= this.now().getTime();
    if (order.status === OrderStatus.EXPIRED || due) throw orderError(OrderError.SERVICE_EXPIRED, "service expired");
    if (order.voucherVoidedAt) throw orderError(OrderError.SERVICE_CANCELLED, "service cancelled");
    return { ...order, voucherUrl: order.voucherUrl };
  }

  /** 订单过期积分查询: PSBC's answer, passed through, for a code that has no order of another type or customer. */
  async expiredPoints(envelope: RightsEnvelope): Promise<ExpiredPoints> {
    const { serviceType, request } = await this.open(envelope);
    const order = await this.deps.orders.findByCode(request.code);
    if (order && !this.belongsToCaller(order, serviceType, request)) throw this.refuse(order, serviceType, "expired points");
    try {
      return await this.deps.psbc.queryExpiredPoints({ code: request.code, type: request.type, mac: request.mac });
    } catch (err) {
      this.deps.logger.warn({ err }, "PSBC expired-points query failed");
      throw orderError(OrderError.UPSTREAM_FAILED, "PSBC expired-points query failed");
    }
  }

  /**
   * The envelope's fields first (the RPC can be called without the gateway's schema, and a NUL would reach
   * PostgreSQL), then the service type (unknown → 暂不支持此服务), then the request decrypted with its key.
   */
  private async open(envelope: RightsEnvelope): Promise<{ serviceType: ServiceType; request: RightsRequest }> {
    if (!isWellFormedEnvelope(envelope)) throw orderError(OrderError.PARAMETER_INVALID, "invalid envelope");
    const serviceType = await this.deps.serviceTypes.require(envelope.type);
    try {
      const request = decryptRightsRequest(envelope.request, { key: serviceType.aesKey, iv: serviceType.aesIv }, envelope.type);
      return { serviceType, request };
    } catch (err) {
      if (!(err instanceof InvalidRightsRequest)) throw err;
      throw orderError(OrderError.PARAMETER_INVALID, "invalid request parameter");
    }
  }

  /**
   * An order belongs to its service type and, where the type is strict about it, to the customer (`mac`) who
   * booked it. Nobody else may see or change it.
   */
  private belongsToCaller(order: RightsOrder, serviceType: ServiceType, request: RightsRequest): boolean {
    if (order.type !== serviceType.type) return false;
    return !serviceType.strictMac || order.mac === request.mac;
  }

  /**
   * The answer to a call about someone else's order: the contract's answer to a code with no order for the
   * caller (detail, cancel: 订单不存在; appointment, expired points: 暂不支持此服务), so it reveals nothing.
   * Only our log says what happened.
   */
  private refuse(order: RightsOrder, serviceType: ServiceType, operation: "appointment" | "cancel" | "detail" | "expired points"): ConnectError {
    const mismatch = order.type === serviceType.type ? "mac" : "service type";
    this.deps.logger.warn({ orderNo: order.orderNo, callerType: serviceType.type, mismatch }, `${operation} refused: the order belongs to another ${mismatch}`);
    return operation === "cancel" || operation === "detail"
      ? orderError(OrderError.ORDER_NOT_FOUND, "order not found")
      : orderError(OrderError.SERVICE_NOT_SUPPORTED, "service not supported");
  }

  private async voidVoucher(order: RightsOrder, timeoutMs = this.deps.voucherTimeoutMs): Promise<RightsOrder> {
    try {
      await this.deps.vouchers.voidVoucher({ orderNo: order.orderNo }, { timeoutMs });
    } catch (err) {
      const reason = reasonOf(err, VoucherErrorSchema);
      if (reason === VoucherError.REDEEMED) {
        // The channel did not say when: the clock's now stands in for the usage time.
        if ((await this.deps.orders.recordVoucherRedeemed(order.orderNo, this.now())) === "recorded") this.deps.eventsWritten();
        throw orderError(OrderError.SERVICE_IN_EFFECT, "voucher already redeemed");
      }
      // No voucher was ever issued for a half-way booking: nothing to void.
      if (reason !== VoucherError.NOT_FOUND) {
        await this.recordFailure(order, "voucher void", err);
        throw orderError(OrderError.UPSTREAM_FAILED, "voucher void failed");
      }
    }
    return this.deps.orders.recordVoucherVoided(order.orderNo);
  }

  /**
   * The voucher call's deadline within the caller's, keeping `reservedMs` for a call after it; at least 1 ms, as a
   * transport reads 0 as none.
   */
  private voucherTimeoutMs(deadline: number | undefined, reservedMs = 0): number {
    if (deadline === undefined) return this.deps.voucherTimeoutMs;
    return Math.max(1, Math.min(this.deps.voucherTimeoutMs, deadline - Date.now() - reservedMs - ANSWER_MARGIN_MS));
  }

  private async failIfExpired(order: RightsOrder): Promise<void> {
    if (order.status === OrderStatus.EXPIRED) throw orderError(OrderError.SERVICE_EXPIRED, "service expired");
    if (order.expireAt.getTime() <= this.now().getTime()) {
      await this.deps.orders.markExpired(order.orderNo);
      throw orderError(OrderError.SERVICE_EXPIRED, "service expired");
    }
  }

  /**
   * Runs one upstream step; a failure is kept on the order and answered as UPSTREAM_FAILED (code 1). With
   * `restartOnRefusal`, a refusal for good also lets the next appointment restart the booking with its own
   * request, so one refused request does not wedge the rights code.
   */
  private async upstream<T>(
    order: RightsOrder,
    step: string,
    call: () => Promise<T>,
    { restartOnRefusal = false } = {},
  ): Promise<T> {
    try {
      return await call();
    } catch (err) {
      await this.recordFailure(order, step, err, restartOnRefusal && isRefusedForGood(err));
      throw orderError(OrderError.UPSTREAM_FAILED, `${step} failed`);
    }
  }

  private async recordFailure(order: RightsOrder, step: string, err: unknown, refused = false): Promise<void> {
    const message = `${step}: ${err instanceof Error ? err.message : String(err)}`;
    const outcome = refused ? "refused for good; the next appointment restarts it" : "failed; the order keeps its progress for a retry";
    this.deps.logger.warn({ orderNo: order.orderNo, err }, `${step} ${outcome}`);
    await this.deps.orders.recordFailure(order.orderNo, message, refused);
  }

  /** A lost lease answers like a held lock: another request may be running the saga now. */
  private async withCodeLock<T>(code: string, work: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = await acquireCodeLease(this.deps.lock, code);
    if (!lease) throw orderError(OrderError.REQUEST_IN_PROGRESS, "another request holds this rights code");
    try {
      return await work(lease);
    } catch (err) {
      if (err instanceof LeaseLost) throw orderError(OrderError.REQUEST_IN_PROGRESS, "the lock on this rights code was lost");
      if (err instanceof OrderChanged) throw orderError(OrderError.REQUEST_IN_PROGRESS, "another request moved this order meanwhile");
      throw err;
    } finally {
      await lease.release();
    }
  }
}

/** A business rejection by PSBC (in-process adapter), the voucher's send channel or its quota, not a timeout. */
function isRefusedForGood(err: unknown): boolean {
  if (err instanceof UpstreamError) return !err.retryable;
  // A make-code quota refuses the same voucher again until an operator changes the rule: for good, too.
  const reason = reasonOf(err, VoucherErrorSchema);
  return reason === VoucherError.CHANNEL_REJECTED || reason === VoucherError.QUOTA_EXCEEDED;
}

/** Booked or beyond it on the happy path, voucher live: a repeated appointment answers the same voucher URL. */
function isBooked(order: RightsOrder): boolean {
  return (
    (order.status === OrderStatus.BOOKED || order.status === OrderStatus.COMPLETED) &&
    order.voucherUrl !== null &&
    order.voucherVoidedAt === null
  );
}
