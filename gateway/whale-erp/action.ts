import type { DescService } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { Static, TObject } from "typebox";

/** What an action's `call` is given: the validated body, who is calling, and the voucher service's APIs. */
export interface ErpCall<Body> {
  body: Body;
  /** The app the call was authenticated as: the actor of the audit rows the call writes. */
  appId: string;
  /** A client of one of the voucher service's APIs (CatalogueService, RulesService, ...), over one transport. */
  client<S extends DescService>(service: S): Client<S>;
  /** The traceId header and the deadline: pass them to every RPC. */
  callOptions: CallOptions;
}

/**
 * One back-office action, served at POST /whale/erp/<name>: its body schema, the fields its success answer
 * adds to returnCode/returnMsg, and the one RPC behind it. Adding an action is a file exporting one of these
 * and its line in `actions.ts`; an app may call it once the operator grants it (`npm run ops -- whale app grant`).
 */
export interface ErpAction<Body extends TObject = TObject, Answer extends TObject = TObject> {
  /** The path segment, exactly as the contract spells it (the seed's `saleChanneInsert` included). */
  name: string;
  /** For the served OpenAPI document: the seed's title of the interface. */
  summary: string;
  tag: string;
  body: Body;
  answer: Answer;
  call(call: ErpCall<Static<Body>>): Promise<Static<Answer>>;
}

/** Checks an action's `call` against its own schemas, which a plain array of actions would not. */
export const erpAction = <Body extends TObject, Answer extends TObject>(action: ErpAction<Body, Answer>): ErpAction =>
  action as unknown as ErpAction;
