import type { Client } from "@connectrpc/connect";
import { domainError, ErrorReason, reasonOf } from "../common/errors.js";
import type { LockService } from "../common/lock.js";
import type { Logger } from "../common/logger.js";
import { decryptRightsRequest, InvalidRightsRequest, type RightsRequest } from "../common/rights-request.js";
import { isWellFormedEnvelope } from "../common/rights-envelope.js";
import { KeyStatus, OrderStatus } from "../common/statuses.js";
import { UpstreamError } from "../common/upstream-wire.js";
import type { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import type { RightsEnvelope } from "../../proto/gen/rights/order/v1/order_pb.js";
import type { OrderStore, RightsOrder } from "./order-store.js";
import type { PsbcPlatform } from "./psbc-platform.js";
import type { ServiceType, ServiceTypes } from "./service-types.js";

export interface BookingsDeps {
  serviceTypes: ServiceTypes;
  orders: OrderStore;
  lock: LockService;
  psbc: PsbcPlatform;
  vouchers: Client<typeof VoucherService>;
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
 * The lock outlives the slowest saga (PSBC and voucher timeouts together); if it ever expired mid-way the
 * unique code, PSBC's idempotent booking and the voucher service's idempotency by order number still keep a
 * second runner from booking twice.
 */
const LOCK_TTL_MS = 20_000;
/** Concurrent requests for one code wait this long for the first to finish, then get REQUEST_IN_PROGRESS. */
const LOCK_WAIT_MS = 3_000;

/** The PSBC rights-order use cases: appointment, cancel, detail, expired-points query. */
export class Bookings {
  private readonly now: () => Date;

  constructor(private readonly deps: BookingsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** 服务预约: idempotent per rights code; resumes a booking that stopped after an earlier step. */
  async book(envelope: RightsEnvelope): Promise<RightsOrder> {
    const { serviceType, request } = await this.open(envelope);
    const known = await this.deps.orders.findByCode(request.code);
    if (known && isBooked(known)) return known; // the common retry needs no lock
    return this.withCodeLock(request.code, async () => {
      const booking = {
        mac: request.mac,
        channel: envelope.channel,
        tranChnl: envelope.tranChnl,
        instType: envelope.instType,
        provinceInstNo: envelope.provinceInstNo,
        backUrl: envelope.backUrl,
      };
      let order = await this.deps.orders.findOrCreate({
        ...booking,
        code: request.code,
        type: serviceType.type,
        expireAt: new Date(this.now().getTime() + serviceType.validityDays * 86_400_000),
      });
      if (isBooked(order)) return order;
      if (order.status === OrderStatus.CANCELLED) throw domainError(ErrorReason.SERVICE_CANCELLED, "service cancelled");
      await this.failIfExpired(order);
      if (order.bookingRefusedAt) order = await this.deps.orders.restartRefusedBooking(order.orderNo, booking);

      if (!order.psbcBookedAt) {
        const { psbcOrderNo } = await this.upstream(order, "PSBC booking", () =>
          this.deps.psbc.bookService({
            orderNo: order.orderNo,
            code: order.code,
            type: order.type,
            mac: order.mac,
            channel: envelope.channel,
            tranChnl: envelope.tranChnl,
            instType: envelope.instType,
            provinceInstNo: envelope.provinceInstNo,
          }),
          { restartOnRefusal: true },
        );
        order = await this.deps.orders.recordPsbcBooking(order.orderNo, psbcOrderNo);
      }

      const { voucher } = await this.upstream(order, "voucher issue", () =>
        this.deps.vouchers.issueVoucher({
          orderNo: order.orderNo,
          templateId: serviceType.voucherTemplateId,
          sendChannel: serviceType.sendChannel,
          rightsCode: order.code,
          customerRef: order.mac,
        }),
        { restartOnRefusal: true },
      );
      if (!voucher?.url) throw domainError(ErrorReason.UPSTREAM_FAILED, "voucher service returned no URL");
      order = await this.deps.orders.completeBooking(order, voucher.voucherNo, voucher.url);
      this.deps.eventsWritten();
      this.deps.logger.info({ orderNo: order.orderNo }, "service booked");
      return order;
    });
  }

  /** 服务取消: only a booked service; voids the voucher, cancels at PSBC, status 400. Resumable and idempotent. */
  async cancel(envelope: RightsEnvelope): Promise<RightsOrder> {
    const { request } = await this.open(envelope);
    return this.withCodeLock(request.code, async () => {
      let order = await this.deps.orders.findByCode(request.code);
      if (!order) throw domainError(ErrorReason.ORDER_NOT_FOUND, "order not found");
      if (order.status === OrderStatus.CANCELLED) return order;
      if (order.status === OrderStatus.COMPLETED || order.keyStatus === KeyStatus.REDEEMED) {
        throw domainError(ErrorReason.SERVICE_IN_EFFECT, "service in effect");
      }
      await this.failIfExpired(order);
      // A booking that stopped half-way (booked at PSBC, no voucher yet) is cancelled too, so PSBC is not
      // left holding a booking nobody can use; one never booked anywhere has nothing to cancel.
      if (order.status === OrderStatus.NOT_BOOKED && !order.psbcBookedAt) {
        throw domainError(ErrorReason.SERVICE_NOT_BOOKED, "service not booked");
      }

      if (!order.psbcCancelledAt) {
        const current = order;
        const { status } = await this.upstream(current, "PSBC status query", () =>
          this.deps.psbc.queryServiceStatus({ code: current.code, type: current.type }),
        );
        if (status === "COMPLETED") throw domainError(ErrorReason.SERVICE_IN_EFFECT, "service completed at PSBC");
        if (status === "EXPIRED") {
          await this.deps.orders.markExpired(current.orderNo);
          throw domainError(ErrorReason.SERVICE_EXPIRED, "service expired at PSBC");
        }
      }

      if (!order.voucherVoidedAt) {
        order = await this.voidVoucher(order);
      }

      if (!order.psbcCancelledAt) {
        const current = order;
        await this.upstream(current, "PSBC cancel", () =>
          this.deps.psbc.cancelService({ orderNo: current.orderNo, code: current.code, type: current.type }),
        );
        order = await this.deps.orders.recordPsbcCancelled(order.orderNo);
      }

      order = await this.deps.orders.completeCancel(order);
      this.deps.eventsWritten();
      this.deps.logger.info({ orderNo: order.orderNo }, "service cancelled");
      return order;
    });
  }

  /** 服务详情: the voucher URL of the rights code's order. */
  async detail(envelope: RightsEnvelope): Promise<RightsOrder & { voucherUrl: string }> {
    const { request } = await this.open(envelope);
    const order = await this.deps.orders.findByCode(request.code);
    if (!order?.voucherUrl) throw domainError(ErrorReason.ORDER_NOT_FOUND, "order not found");
    return { ...order, voucherUrl: order.voucherUrl };
  }

  /** 订单过期积分查询: PSBC's answer, passed through. */
  async expiredPoints(envelope: RightsEnvelope): Promise<ExpiredPoints> {
    const { request } = await this.open(envelope);
    try {
      return await this.deps.psbc.queryExpiredPoints({ code: request.code, type: request.type, mac: request.mac });
    } catch (err) {
      this.deps.logger.warn({ err }, "PSBC expired-points query failed");
      throw domainError(ErrorReason.UPSTREAM_FAILED, "PSBC expired-points query failed");
    }
  }

  /**
   * The envelope's fields first (the RPC can be called without the gateway's schema, and a NUL would reach
   * PostgreSQL), then the service type (unknown → 暂不支持此服务), then the request decrypted with its key.
   */
  private async open(envelope: RightsEnvelope): Promise<{ serviceType: ServiceType; request: RightsRequest }> {
    if (!isWellFormedEnvelope(envelope)) throw domainError(ErrorReason.PARAMETER_INVALID, "invalid envelope");
    const serviceType = await this.deps.serviceTypes.require(envelope.type);
    try {
      const request = decryptRightsRequest(envelope.request, { key: serviceType.aesKey, iv: serviceType.aesIv }, envelope.type);
      return { serviceType, request };
    } catch (err) {
      if (!(err instanceof InvalidRightsRequest)) throw err;
      throw domainError(ErrorReason.PARAMETER_INVALID, "invalid request parameter");
    }
  }

  private async voidVoucher(order: RightsOrder): Promise<RightsOrder> {
    try {
      await this.deps.vouchers.voidVoucher({ orderNo: order.orderNo });
    } catch (err) {
      const reason = reasonOf(err);
      if (reason === ErrorReason.SERVICE_IN_EFFECT) {
        await this.deps.orders.markRedeemed(order.orderNo);
        throw domainError(ErrorReason.SERVICE_IN_EFFECT, "voucher already redeemed");
      }
      // No voucher was ever issued for a half-way booking: nothing to void.
      if (reason !== ErrorReason.ORDER_NOT_FOUND) {
        await this.recordFailure(order, "voucher void", err);
        throw domainError(ErrorReason.UPSTREAM_FAILED, "voucher void failed");
      }
    }
    return this.deps.orders.recordVoucherVoided(order.orderNo);
  }

  private async failIfExpired(order: RightsOrder): Promise<void> {
    if (order.status === OrderStatus.EXPIRED) throw domainError(ErrorReason.SERVICE_EXPIRED, "service expired");
    if (order.expireAt.getTime() <= this.now().getTime()) {
      await this.deps.orders.markExpired(order.orderNo);
      throw domainError(ErrorReason.SERVICE_EXPIRED, "service expired");
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
      throw domainError(ErrorReason.UPSTREAM_FAILED, `${step} failed`);
    }
  }

  private async recordFailure(order: RightsOrder, step: string, err: unknown, refused = false): Promise<void> {
    const message = `${step}: ${err instanceof Error ? err.message : String(err)}`;
    const outcome = refused ? "refused for good; the next appointment restarts it" : "failed; the order keeps its progress for a retry";
    this.deps.logger.warn({ orderNo: order.orderNo, err }, `${step} ${outcome}`);
    await this.deps.orders.recordFailure(order.orderNo, message, refused);
  }

  private async withCodeLock<T>(code: string, work: () => Promise<T>): Promise<T> {
    const lease = await this.deps.lock.acquire(`code:${code}`, { ttlMs: LOCK_TTL_MS, waitMs: LOCK_WAIT_MS });
    if (!lease) throw domainError(ErrorReason.REQUEST_IN_PROGRESS, "another request holds this rights code");
    try {
      return await work();
    } finally {
      await lease.release();
    }
  }
}

/** A business rejection by PSBC (in-process adapter) or by the voucher service's send channel, not a timeout. */
function isRefusedForGood(err: unknown): boolean {
  if (err instanceof UpstreamError) return !err.retryable;
  return reasonOf(err) === ErrorReason.UPSTREAM_REJECTED;
}

/** Booked or beyond it on the happy path: a repeated appointment answers the same voucher URL. */
function isBooked(order: RightsOrder): boolean {
  return (order.status === OrderStatus.BOOKED || order.status === OrderStatus.COMPLETED) && order.voucherUrl !== null;
}
