import type { ErpAction } from "./action.js";
import { ruleActions } from "./actions/rules.js";

/**
 * Every back-office action, by its path segment: one line each. The rules (createRule) and codes
 * (makeNotifyQuery, makeNotifyRetry, verifyNotifyQuery) actions join here.
 */
export const erpActions: readonly ErpAction[] = [...ruleActions];
