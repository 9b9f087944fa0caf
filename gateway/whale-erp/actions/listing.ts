// What every catalogue listing action (saleChannelList, sendChannelList, templateList, activityList: ours, as
// ruleList, not the seed's) takes beside its own filters and its after-id: by id, a page at a time.
import { Type } from "typebox";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CatalogueListFilterSchema } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { MAX_LENGTH } from "../../../services/voucher/catalogue/fields.js";
import { text } from "../schemas.js";

/** A listing's isActive filter, Y or N (`what`: the records listed). */
export const activeFilter = (what: string) =>
  Type.Optional(Type.Union([Type.Literal("Y"), Type.Literal("N")], { description: `only active (Y) or only inactive (N) ${what}; absent: both` }));

/** The filter's Y or N as the RPCs take it; absent: both. */
export const isActiveOf = (flag: "Y" | "N" | undefined) => (flag === undefined ? undefined : flag === "Y");

export const LIST_FIELDS = {
  isActive: activeFilter("records"),
  namePrefix: Type.Optional(text(MAX_LENGTH.name, "only records whose name starts with this (case-sensitive), 1–99 characters")),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "1 to 1000; absent means 100" })),
};

/** The listing's filter as the catalogue takes it; `afterId` is the action's after-<record>Id. */
export function listFilterOf(body: { isActive?: "Y" | "N"; namePrefix?: string; pageSize?: number }, afterId: string | number | undefined): MessageInitShape<typeof CatalogueListFilterSchema> {
  return {
    isActive: isActiveOf(body.isActive),
    namePrefix: body.namePrefix ?? "",
    afterId: afterId === undefined ? "" : String(afterId),
    limit: body.pageSize ?? 0,
  };
}

export const listSummary = (what: string) =>
  `${what} by id, at most pageSize after the after-id given (the next page: the last id answered), filtered (ours, not the seed's)`;
