import { describe, expect, it } from "vitest";
import { OrderError, orderError } from "../services/order/errors.js";
import { Metrics } from "../services/common/metrics.js";
import { fakeOrderService, useTestGateway, validBody } from "../test/support/gateway.js";
import { PATHS } from "../test/support/platform.js";

const CANCEL = PATHS.cancel;
const metrics = new Metrics({ processMetrics: false });
const gateway = useTestGateway({ metrics });

describe("metrics", () => {
  it("counts requests by route, HTTP status and contract code, and times them", async () => {
    fakeOrderService.failure = orderError(OrderError.SERVICE_EXPIRED, "rights code expired");
    await gateway.post(CANCEL, validBody);
    await gateway.app.inject({ method: "GET", url: "/api/v1/no/such/route" });
    await gateway.app.inject({ method: "GET", url: "/no/such/route" });
    const counted = (await metrics.httpRequests.get()).values.map((v) => v.labels);
    expect(counted).toContainEqual({ method: "POST", route: CANCEL, status_code: "400", code: "4" });
    expect(counted).toContainEqual({ method: "GET", route: "unmatched", status_code: "404", code: "2" });
    // Outside every contract there is no contract code.
    expect(counted).toContainEqual({ method: "GET", route: "unmatched", status_code: "404", code: "" });
    const timed = (await metrics.httpSeconds.get()).values.filter((v) => v.metricName === "http_server_request_duration_seconds_count");
    expect(timed.map((v) => v.labels)).toContainEqual({ method: "POST", route: CANCEL, status_code: "400" });
  });
});
