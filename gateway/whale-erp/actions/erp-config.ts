// activityConfig and templateConfig (the seed shows the same three fields for both): kept as given, answered back.
import { Type, type Static } from "typebox";
import type { ErpConfig as ErpConfigMessage } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import type { ErpConfig } from "../schemas.js";

export const ErpConfigView = Type.Object({ channelPublicKey: Type.String(), whalePublicKey: Type.String(), verifyNotifyURL: Type.String() });

export const configViewOf = (config: ErpConfigMessage | undefined) => ({
  channelPublicKey: config?.channelPublicKey ?? "",
  whalePublicKey: config?.whalePublicKey ?? "",
  verifyNotifyURL: config?.verifyNotifyUrl ?? "",
});

export const configInputOf = (config: Static<typeof ErpConfig> | undefined) =>
  config && { channelPublicKey: config.channelPublicKey, whalePublicKey: config.whalePublicKey, verifyNotifyUrl: config.verifyNotifyURL };

