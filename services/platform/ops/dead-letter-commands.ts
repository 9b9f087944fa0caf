import { listDeadLetters, replayDeadLetters, type DeadLetter, type DeadLetterQuery } from "../../common/dead-letters.js";
import { formatBusinessTime } from "../../common/clock.js";
import { optionalLimit, UsageError, type OpsCommand } from "./command.js";

const DEFAULT_LIMIT = 100;

const view = (letter: DeadLetter) => ({ ...letter, deadAt: formatBusinessTime(letter.deadAt) });

/** NATS_URL and the dead letters the options select. */
function selection(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): { url: string; query: DeadLetterQuery } {
  const url = env.NATS_URL;
  if (!url) throw new UsageError("set NATS_URL: dead letters are kept in NATS's DEAD stream (the embedded bus keeps none across a restart)");
  const consumer = typeof values.consumer === "string" && values.consumer !== "" ? values.consumer : undefined;
  return { url, query: { consumer, limit: optionalLimit(values, 1000) || DEFAULT_LIMIT } };
}

/** A command that acts on the dead letters its options select and prints those it acted on. */
const deadLetterCommand = (words: string[], usage: string, act: (url: string, query: DeadLetterQuery) => Promise<DeadLetter[]>): OpsCommand => ({
  words,
  usage,
  options: ["consumer", "limit"],
  positionals: 0,
  async run({ values }, context) {
    const { url, query } = selection(values, context.env);
    context.print((await act(url, query)).map(view));
  },
});

/** `dead-letters` and `dead-letters replay`: the events a consumer gave up on, and their replay once the cause is fixed. */
export const deadLetterCommands: OpsCommand[] = [
  // Before `dead-letters`, which would take "replay" for an argument.
  deadLetterCommand(
    ["dead-letters", "replay"],
    "dead-letters replay [--consumer D] [--limit N]   publish them again (each consumer that handled one skips it) and delete them",
    replayDeadLetters,
  ),
  deadLetterCommand(["dead-letters"], "dead-letters [--consumer D] [--limit N]          events a consumer gave up on, oldest first (NATS_URL)", listDeadLetters),
];
