import { Type, type TObject } from "typebox";
import { CatalogueRecord, CatalogueService } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { erpAction, type ErpAction } from "../action.js";
import { body, erpTime } from "../schemas.js";

/**
 * <record>Enable / <record>Disable: the body names the record (its id field) and, except for a send channel
 * (the seed gives it no times), the ERP's updateTime. Answers `changed`: "N" when it already was in that state.
 */
export function activeSwitch(options: {
  name: string;
  summary: string;
  tag: string;
  record: CatalogueRecord;
  idField: string;
  id: TObject["properties"][string];
  active: boolean;
  withUpdateTime: boolean;
}): ErpAction {
  const { idField } = options;
  const properties = { [idField]: options.id, ...(options.withUpdateTime ? { updateTime: erpTime("updateTime") } : {}) };
  return erpAction({
    name: options.name,
    summary: options.summary,
    tag: options.tag,
    body: body(properties),
    answer: Type.Object({ changed: Type.Union([Type.Literal("Y"), Type.Literal("N")], { description: "N: it already was in that state" }) }),
    async call({ body, appId, client, callOptions }) {
      const fields = body as Record<string, unknown>;
      const { changed } = await client(CatalogueService).setRecordActive(
        {
          actor: appId,
          record: options.record,
          id: String(fields[idField]),
          active: options.active,
          updateTime: typeof fields.updateTime === "string" ? fields.updateTime : "",
        },
        callOptions,
      );
      return { changed: changed ? ("Y" as const) : ("N" as const) };
    },
  });
}

export const yesNoOf = (active: boolean) => (active ? ("Y" as const) : ("N" as const));
export const isActiveOf = (value: "Y" | "N" | undefined) => value !== "N";
