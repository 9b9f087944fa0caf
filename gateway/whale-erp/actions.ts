import type { ErpAction } from "./action.js";
import * as activity from "./actions/activity.js";
import { auditQuery } from "./actions/audit.js";
import { bulkMakeCode, bulkMakeCodeQuery } from "./actions/bulk-make-code.js";
import * as saleChannel from "./actions/sale-channel.js";
import * as sendChannel from "./actions/send-channel.js";
import { noticeActions } from "./actions/make-notices.js";
import { ruleActions } from "./actions/rules.js";
import * as template from "./actions/template.js";

/**
 * Every back-office action, by its path segment: one line each. The rules (createRule) and codes
 * (makeNotifyQuery, makeNotifyRetry, verifyNotifyQuery) actions join here.
 */
export const erpActions: readonly ErpAction[] = [
  saleChannel.saleChanneInsert,
  saleChannel.saleChannelQuery,
  saleChannel.saleChannelList,
  saleChannel.saleChannelUpdate,
  saleChannel.saleChannelEnable,
  saleChannel.saleChannelDisable,
  sendChannel.sendChanneInsert,
  sendChannel.sendChannelQuery,
  sendChannel.sendChannelList,
  sendChannel.sendChannelUpdate,
  sendChannel.sendChannelEnable,
  sendChannel.sendChannelDisable,
  template.templateInsert,
  template.templateQuery,
  template.templateList,
  template.templateUpdate,
  template.templateEnable,
  template.templateDisable,
  activity.activityInsert,
  activity.activityQuery,
  activity.activityList,
  activity.activityUpdate,
  activity.activityEnable,
  activity.activityDisable,
  activity.activityTemplateBind,
  activity.activityTemplateUnbind,
  auditQuery,
  ...ruleActions,
  ...noticeActions,
  // Ours, not the seed's: the bulk (批导) templates' jobs.
  bulkMakeCode,
  bulkMakeCodeQuery,
];
