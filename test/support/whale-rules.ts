// The createRule body the rules tests share: a make-code ScenceLimit rule of one sale channel (seed 002's
// createRule fields), at most `limitMaxDay` codes a day, in force from `startTime` to `endTime`.

export interface ScenceLimitOptions {
  limitMaxDay?: number;
  /** 0: no total limit. */
  limitMaxTotal?: number;
  /** yyyyMMddHHmmss: the rule's and its one limit item's window. */
  startTime?: string;
  endTime?: string;
}

export function scenceLimitRule(saleChannelId: string, options: ScenceLimitOptions = {}) {
  const startTime = options.startTime ?? "20261201000000";
  const endTime = options.endTime ?? "20271231235959";
  return {
    ruleScenceKey: "saleChannel",
    ruleSceneItemKey: saleChannelId,
    ruleScene: "makeCode",
    ruleName: "每日制码限量",
    ruleKey: "ScenceLimit",
    ruleValue: {
      limitWay: "Q",
      limitType: "W",
      limitItems: [
        { limitKey: saleChannelId, limitMaxDay: options.limitMaxDay ?? 100, limitMaxWeek: 0, limitMaxMonth: 0, limitMaxYear: 0, limitMaxTotal: options.limitMaxTotal ?? 0, startTime, endTime },
      ],
    },
    startTime,
    endTime,
    messageTpl: "超出每日制码限量",
  };
}
