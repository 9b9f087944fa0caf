import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import DataLoader from "dataloader";
import type {
  GetServiceDetailResponse,
  OrderService,
  RightsEnvelopeSchema,
  ServiceDetailCallSchema,
  ServiceDetailOutcome,
} from "../../proto/gen/rights/order/v1/order_pb.js";
import { errorOfCallFailure } from "../../services/common/errors.js";
import { currentTraceId, newTraceId } from "../../services/common/trace.js";
import { tracedCall } from "../traced-call.js";

/** At most this many detail calls share one internal call (the most GetServiceDetails takes). */
const MAX_CALLS_PER_BATCH = 100;

type ServiceDetailCallInit = MessageInitShape<typeof ServiceDetailCallSchema> & { traceId: string };

/**
 * One PSBC detail call's answer from the order service, or the ConnectError GetServiceDetail would have thrown;
 * the call travels under the traceId of the async context, as every call of the gateway's clients does.
 */
export type ServiceDetails = (envelope: RightsEnvelopeInit) => Promise<GetServiceDetailResponse>;

type RightsEnvelopeInit = MessageInitShape<typeof RightsEnvelopeSchema>;

/**
 * PSBC's detail calls asked in one turn of the event loop go to the order service as one GetServiceDetails: the
 * hop costs per call (an HTTP/2 stream, metadata, grpc-js's call layers, on both sides) far more than per item,
 * and under load it was most of a detail's CPU. Each call keeps its own answer and error, so the route and the
 * error mapping are those of one call. An order service without the method (an older one, mid-rollout) is asked
 * one call at a time.
 */
export function serviceDetails(client: Client<typeof OrderService>, timeoutMs: number | undefined): ServiceDetails {
  // Each under its own traceId, as on every call of the gateway.
  const one = ({ envelope, traceId }: ServiceDetailCallInit) =>
    tracedCall(traceId, timeoutMs, (options) => client.getServiceDetail({ envelope }, options)).catch((err: unknown) => ConnectError.from(err));
  const loader = new DataLoader<ServiceDetailCallInit, GetServiceDetailResponse>(
    async (calls) => {
      try {
        // The batch has a traceId of its own; the order service logs each call under the call's.
        const { outcomes } = await tracedCall(newTraceId(), timeoutMs, (options) => client.getServiceDetails({ calls: [...calls] }, options));
        return outcomes.map(answerOf);
      } catch (err) {
        if (ConnectError.from(err).code !== Code.Unimplemented) throw err;
        return Promise.all(calls.map(one));
      }
    },
    // setImmediate: every request read off the sockets in this turn asks before the call goes out.
    { cache: false, maxBatchSize: MAX_CALLS_PER_BATCH, batchScheduleFn: (run) => setImmediate(run) },
  );
  return (envelope) => loader.load({ envelope, traceId: currentTraceId() ?? newTraceId() });
}

function answerOf({ outcome }: ServiceDetailOutcome): GetServiceDetailResponse | ConnectError {
  switch (outcome.case) {
    case "detail":
      return outcome.value;
    case "failure":
      return errorOfCallFailure(outcome.value);
    default:
      return new ConnectError("detail call answered with no outcome", Code.Internal);
  }
}
