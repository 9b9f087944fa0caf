import { describe, expect, it } from "vitest";
import { file_rights_events_v1_events } from "../../proto/gen/rights/events/v1/events_pb.js";
import { subjectMatches } from "../common/bus.js";
import { subjectOf } from "../common/events.js";
import { inPeerOrder } from "../common/service-descriptor.js";
import { RIGHTS_REQUEST_LIMITS } from "../order/psbc/rights-request.js";
import { BLUE_BROTHERS_ISSUE_MAX_LENGTH } from "../voucher/channels/blue-brothers/wire.js";
import { streamsOf } from "./cluster.js";
import { services } from "./services.js";

describe("the list of services", () => {
  it("has unique names and schemas, and starts each service after the services it calls", () => {
    expect(new Set(services.map((service) => service.name)).size).toBe(services.length);
    expect(new Set(services.map((service) => service.schema.name)).size).toBe(services.length);
    const order = inPeerOrder(services).map((service) => service.name);
    for (const service of services) {
      for (const peer of service.peers) expect(order.indexOf(peer)).toBeLessThan(order.indexOf(service.name));
    }
  });

  it("puts every event type's subject in exactly one service's stream", () => {
    const streams = streamsOf(services);
    for (const message of file_rights_events_v1_events.messages) {
      const subject = subjectOf(message);
      const owners = streams.filter((stream) => stream.subjects.some((pattern) => subjectMatches(pattern, subject)));
      expect(owners.map((stream) => stream.name), subject).toHaveLength(1);
    }
  });

  it("has each stream declared by one service, its owner", () => {
    const names = services.flatMap((service) => service.streams.map((stream) => stream.name));
    expect(names).toEqual([...new Set(names)]);
  });
});

describe("what one service accepts, the next upstream takes", () => {
  it("the order service accepts nothing the Blue Brothers issue call would refuse (a long mac booked at PSBC, then stuck)", () => {
    expect(RIGHTS_REQUEST_LIMITS.codeMaxLength).toBeLessThanOrEqual(BLUE_BROTHERS_ISSUE_MAX_LENGTH.rightsCode);
    expect(RIGHTS_REQUEST_LIMITS.macMaxLength).toBeLessThanOrEqual(BLUE_BROTHERS_ISSUE_MAX_LENGTH.customerRef);
  });
});
