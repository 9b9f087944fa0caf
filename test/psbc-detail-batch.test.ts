import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { OrderService, RightsEnvelopeSchema } from "../proto/gen/rights/order/v1/order_pb.js";
import { errorDetailOf } from "../services/common/errors.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { freshCode, modes, PATHS, psbcBody, useTestPlatform, type CallInput } from "./support/platform.js";

describe.each(modes)("detail calls asked together (%s)", (mode) => {
  const handle = useTestPlatform(mode);

  it("are answered each as it is alone: a booked code, a cancelled one, no order, another customer, a malformed request, an unknown type", async () => {
    const { platform } = handle;
    const booked = freshCode();
    const cancelled = freshCode();
    for (const code of [booked, cancelled]) expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
    expect((await platform.call(PATHS.cancel, { code: cancelled })).body.code).toBe(0);
    const inputs: CallInput[] = [
      { code: booked },
      { code: cancelled },
      { code: freshCode() },
      { code: booked, mac: "another-customer" },
      { code: booked, request: "bm90IGEgY2lwaGVydGV4dA==" },
      { code: booked, type: "399999" },
    ];
    const answer = async (input: CallInput) => {
      const { status, body } = await platform.call(PATHS.detail, input);
      return { status, code: body.code, msg: body.msg, data: body.data };
    };
    const alone: Array<Awaited<ReturnType<typeof answer>>> = [];
    for (const input of inputs) alone.push(await answer(input));
    expect(new Set(alone.map((a) => a.msg)).size).toBeGreaterThan(2);
    // Each kind several times over, all at once.
    const together = await Promise.all(Array.from({ length: 5 }, () => inputs.map(answer)).flat());
    expect(together).toEqual(Array.from({ length: 5 }, () => alone).flat());
  });

  it("GetServiceDetails over the internal hop answers each call as GetServiceDetail does", async () => {
    const { platform } = handle;
    const orders = createClient(OrderService, rpcTransport(platform.serviceUrl("order")));
    const code = freshCode();
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
    const envelopes = [{ code }, { code: freshCode() }].map((input) => create(RightsEnvelopeSchema, psbcBody(input)));
    const { outcomes } = await orders.getServiceDetails({ calls: envelopes.map((envelope, n) => ({ envelope, traceId: `batch-test-${n}` })) });
    const found = await orders.getServiceDetail({ envelope: envelopes[0] });
    expect(outcomes[0]?.outcome).toEqual({ case: "detail", value: found });
    const missing = await orders.getServiceDetail({ envelope: envelopes[1] }).catch((err: unknown) => ConnectError.from(err));
    expect(missing).toBeInstanceOf(ConnectError);
    expect(outcomes[1]?.outcome.case).toBe("failure");
    expect(outcomes[1]?.outcome.value).toMatchObject({
      code: (missing as ConnectError).code,
      message: (missing as ConnectError).rawMessage,
      detail: errorDetailOf(missing),
    });
  });
});
