import type { DescService } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client, type Transport } from "@connectrpc/connect";
import { errorCodes, type FastifyPluginAsync, type FastifyRequest } from "fastify";
import { CatalogueService } from "../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { parseBusinessTime } from "../../services/common/clock.js";
import { tracedCall } from "../traced-call.js";
import type { PublicContract } from "../public-contract.js";
import { acceptSignedJson } from "../signed-json.js";
import type { ErpAction } from "./action.js";
import { erpActions } from "./actions.js";
import { credentialsOf, ErpHeaders } from "./authentication.js";
import { sendErpError } from "./errors.js";
import { ErpFailure, erpSuccess, RETURN_CODE_TABLE, RETURN_CODES } from "./schemas.js";

export const WHALE_ERP_PREFIX = "/whale/erp";

export interface WhaleErpOptions {
  /** The voucher service, which hosts the catalogue, rules and codes APIs. */
  voucherTransport: Transport;
  /** Deadline of each voucher service call. Unset, the transport's default deadline applies. */
  callTimeoutMs?: number;
  /** The actions served; the contract's table unless a test brings its own. */
  actions?: readonly ErpAction[];
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Set on back-office routes: the action the path names. */
    erpAction?: string;
  }
}

/** The app each request was authenticated as. */
const callers = new WeakMap<FastifyRequest, string>();

/**
 * The WHALE back office in its own scope: POST /whale/erp/<action> for each action of the table. The body is
 * kept as received; the call is authenticated (headers here, app, signature, nonce and grant by the voucher
 * service) before the body is validated or believed; then the action's one RPC. Every answer, failures
 * included, is HTTP 200 with {returnCode, returnMsg, …}.
 */
export const whaleErpPlugin: FastifyPluginAsync<WhaleErpOptions> = async (scope, options) => {
  // The `erp-time` format: a real date and time, not just 14 digits.
  const rawBodyOf = acceptSignedJson(scope, { "erp-time": { type: "string", validate: (value: string) => parseBusinessTime(value) !== undefined } });
  scope.setErrorHandler(sendErpError);
  scope.setNotFoundHandler((request, reply) => sendErpError(new errorCodes.FST_ERR_NOT_FOUND(), request, reply));

  const clients = new Map<DescService, Client<DescService>>();
  const client = <S extends DescService>(service: S): Client<S> => {
    let found = clients.get(service);
    if (!found) clients.set(service, (found = createClient(service, options.voucherTransport)));
    return found as Client<S>;
  };
  const traced = <T>(request: FastifyRequest, call: (callOptions: CallOptions) => T) => tracedCall(request.id, options.callTimeoutMs, call);

  for (const action of options.actions ?? erpActions) {
    scope.post(
      `/${action.name}`,
      {
        config: { erpAction: action.name },
        schema: {
          operationId: action.name,
          summary: action.summary,
          tags: [action.tag],
          headers: ErpHeaders,
          body: action.body,
          response: { 200: { anyOf: [erpSuccess(action.answer), ErpFailure] } },
        },
        // Before validation: an unauthenticated body is not looked at, whatever it holds.
        preValidation: async (request) => {
          const credentials = credentialsOf(request, rawBodyOf(request));
          const { appId } = await traced(request, (callOptions) =>
            client(CatalogueService).authenticateErpCall({ ...credentials, action: action.name }, callOptions),
          );
          callers.set(request, appId);
        },
      },
      async (request, reply) => {
        const appId = callers.get(request) ?? "";
        const answer = await traced(request, (callOptions) => action.call({ body: request.body as never, appId, client, callOptions }));
        request.contractCode = 0;
        request.log.info({ action: action.name, appId }, "back-office call served");
        reply.header("x-trace-id", request.id);
        return { returnCode: RETURN_CODES.SUCCESS, returnMsg: "SUCCESS", ...answer };
      },
    );
  }
};

/** The contract the ERP calls WHALE's back office by (issue 10; the seed 002's bodies). */
export function whaleErpContract(options: WhaleErpOptions): PublicContract {
  return {
    name: "whale-erp",
    prefix: WHALE_ERP_PREFIX,
    document: {
      info: {
        title: "WHALE back office (ERP → WHALE)",
        version: "1.0.0",
        description:
          "POST /whale/erp/{action} with the action's JSON body, signed with the app's secret (headers X-App-Id, " +
          "X-Timestamp, X-Nonce, X-Signature).\n\n" +
          RETURN_CODE_TABLE,
      },
      // One tag per group of actions, in the table's order.
      tags: [...new Set((options.actions ?? erpActions).map((action) => action.tag))].map((name) => ({ name })),
    },
    register: (scope, prefix) => scope.register(whaleErpPlugin, { ...options, prefix }),
    sendPreRoutingError: sendErpError,
  };
}
