import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus,
} from "../proto/gen/grpc/health/v1/health_pb.js";
import { GetServiceDetailRequestSchema, GetServiceDetailResponseSchema } from "../proto/gen/rights/order/v1/order_pb.js";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { OrderErrorSchema } from "../proto/gen/rights/order/v1/errors_pb.js";
import { errorDetailOf } from "../services/common/errors.js";
import { encryptRightsRequest } from "../services/order/psbc/rights-request.js";
import { freshCode, PATHS, SANDBOX_AES, startTestPlatform, type TestPlatform } from "./support/platform.js";

/** A unary call through the plain gRPC stack, with protobuf-es doing the (de)serialisation. */
function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: string,
  input: I,
  output: O,
  request: MessageShape<I>,
  metadata = new grpc.Metadata(),
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      (value: MessageShape<I>) => Buffer.from(toBinary(input, value)),
      (bytes: Buffer) => fromBinary(output, bytes),
      request,
      metadata,
      { deadline: Date.now() + 5000 },
      (err, value) => (err || !value ? reject(err ?? new Error("no response")) : resolve(value)),
    );
  });
}

describe("plain gRPC clients (@grpc/grpc-js) talk to our services", () => {
  let platform: TestPlatform;
  let orderClient: grpc.Client;
  let voucherClient: grpc.Client;
  beforeAll(async () => {
    platform = await startTestPlatform("embedded");
    orderClient = new grpc.Client(new URL(platform.serviceUrl("order")).host, grpc.credentials.createInsecure());
    voucherClient = new grpc.Client(new URL(platform.serviceUrl("voucher")).host, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    orderClient?.close();
    voucherClient?.close();
    await platform?.close();
  });

  it("answers grpc.health.v1.Health/Check with SERVING on every service", async () => {
    for (const client of [orderClient, voucherClient]) {
      const answer = await unary(
        client,
        "/grpc.health.v1.Health/Check",
        HealthCheckRequestSchema,
        HealthCheckResponseSchema,
        create(HealthCheckRequestSchema, { service: "" }),
      );
      expect(answer.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
  });

  it("answers an unknown health service name with NOT_FOUND", async () => {
    await expect(
      unary(orderClient, "/grpc.health.v1.Health/Check", HealthCheckRequestSchema, HealthCheckResponseSchema,
        create(HealthCheckRequestSchema, { service: "no.such.Service" })),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("serves OrderService/GetServiceDetail, with business errors as gRPC status codes", async () => {
    const code = freshCode();
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
    const envelope = {
      type: "310001",
      request: encryptRightsRequest({ type: "310001", code, mac: "customer-0001" }, SANDBOX_AES),
      channel: "12",
      tranChnl: "12",
      backUrl: "",
      instType: "01",
      provinceInstNo: "100000",
    };
    const metadata = new grpc.Metadata();
    metadata.set("x-trace-id", "interop0trace0id");
    const detail = await unary(orderClient, "/rights.order.v1.OrderService/GetServiceDetail", GetServiceDetailRequestSchema,
      GetServiceDetailResponseSchema, create(GetServiceDetailRequestSchema, { envelope }), metadata);
    expect(detail.status).toBe(200);
    expect(detail.url).toMatch(/^http/);

    await expect(
      unary(orderClient, "/rights.order.v1.OrderService/GetServiceDetail", GetServiceDetailRequestSchema,
        GetServiceDetailResponseSchema, create(GetServiceDetailRequestSchema, { envelope: { ...envelope, request: "broken" } })),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(
      unary(orderClient, "/rights.order.v1.OrderService/GetServiceDetail", GetServiceDetailRequestSchema,
        GetServiceDetailResponseSchema, create(GetServiceDetailRequestSchema, { envelope: { ...envelope, type: "999999" } })),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    // The business reason travels as gRPC's rich status: a google.rpc.Status holding the ErrorDetail.
    const refused = (await unary(orderClient, "/rights.order.v1.OrderService/GetServiceDetail", GetServiceDetailRequestSchema,
      GetServiceDetailResponseSchema, create(GetServiceDetailRequestSchema, { envelope: { ...envelope, request: "broken" } })).catch((err: unknown) => err)) as grpc.ServiceError;
    const [details] = refused.metadata.get("grpc-status-details-bin");
    expect(details).toBeInstanceOf(Buffer);
    const status = findTrailerError(new Headers({ "grpc-status-details-bin": (details as Buffer).toString("base64") }));
    expect(errorDetailOf(status)).toEqual({ domain: OrderErrorSchema.typeName, reason: "ORDER_ERROR_PARAMETER_INVALID" });
  });
});
