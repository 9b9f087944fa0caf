import { randomBytes } from "node:crypto";
import { connect, headers } from "nats";
import { afterAll, describe, expect, it } from "vitest";
import { until } from "../../../test/support/until.js";
import { connectEventBus, DEAD_LETTER_HEADERS, DEAD_LETTER_STREAM, type EventBus } from "../../common/bus.js";
import { createLogger } from "../../common/logger.js";
import { runOps } from "./cli.js";

const logger = createLogger("dead-letters-test", "silent");
const natsUrl = process.env.NATS_URL;

async function ops(argv: string[], env: NodeJS.ProcessEnv) {
  let stdout = "";
  let stderr = "";
  const exitCode = await runOps(argv, { env, stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { exitCode, stdout, stderr, printed: exitCode === 0 ? (JSON.parse(stdout) as Array<Record<string, unknown>>) : undefined };
}

describe("ops dead-letters", () => {
  it("needs NATS_URL: the embedded bus keeps no dead letters across a restart (2)", async () => {
    for (const argv of [["dead-letters"], ["dead-letters", "replay"]]) {
      expect(await ops(argv, {})).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("NATS_URL") });
    }
    expect(await ops(["dead-letters", "--limit", "0"], { NATS_URL: "nats://127.0.0.1:1" })).toMatchObject({ exitCode: 2 });
  });

  describe.runIf(natsUrl)("on NATS JetStream", () => {
    const tag = randomBytes(4).toString("hex");
    const stream = { name: `OPSDL_${tag}`, subjects: [`opsdl${tag}.>`] };
    const durable = `opsdl-${tag}`;
    const other = `opsdl-other-${tag}`;
    let bus: EventBus | undefined;
    afterAll(async () => {
      await bus?.close();
      const nc = await connect({ servers: natsUrl, timeout: 2_000 });
      const jsm = await nc.jetstreamManager();
      await jsm.streams.delete(stream.name).catch(() => false);
      for (const name of [durable, other]) await jsm.consumers.delete(DEAD_LETTER_STREAM.name, name).catch(() => false);
      await nc.close();
    });

    it("lists an event its consumer gave up on, and replays it under its own id once the cause is fixed", async () => {
      bus = await connectEventBus({ url: natsUrl, streams: [stream], name: "dead-letters-test", logger, retryBaseMs: 10, maxDeliveries: 2 });
      let failing = true;
      const handled: string[] = [];
      await bus.subscribe({
        durable,
        subjects: [`opsdl${tag}.>`],
        handler: async (message) => {
          if (failing) throw new Error("the database is away");
          handled.push(message.id);
        },
      });
      // Another durable of the subject handled it the first time: the replay reaches it under the same id, which
      // its processed-event record (consumer.ts) turns into a no-op.
      const handledByOther: string[] = [];
      await bus.subscribe({ durable: other, subjects: [`opsdl${tag}.>`], handler: async (message) => void handledByOther.push(message.id) });
      await bus.publish(`opsdl${tag}.redeemed`, `event-${tag}`, new TextEncoder().encode("payload"));
      const env = { NATS_URL: natsUrl };
      const listed = async () => (await ops(["dead-letters", "--consumer", durable], env)).printed ?? [];
      await until(async () => (await listed()).length === 1);
      expect((await listed())[0]).toMatchObject({
        subject: `opsdl${tag}.redeemed`,
        eventId: `event-${tag}`,
        consumer: durable,
        deliveries: 2,
        error: "the database is away",
        deadAt: expect.stringMatching(/^\d{14}$/),
      });
      expect(handled).toEqual([]);

      failing = false;
      const replay = await ops(["dead-letters", "replay", "--consumer", durable], env);
      expect(replay).toMatchObject({ exitCode: 0, printed: [expect.objectContaining({ eventId: `event-${tag}` })] });
      await until(async () => handled.length === 1);
      expect(handled).toEqual([`event-${tag}`]);
      await until(async () => handledByOther.length === 2);
      expect(handledByOther).toEqual([`event-${tag}`, `event-${tag}`]);
      expect(await listed()).toEqual([]);
      // Nothing left to replay: a second replay publishes nothing.
      expect((await ops(["dead-letters", "replay", "--consumer", durable], env)).printed).toEqual([]);
    });

    it("lists many dead letters oldest first across the stream's gaps (replayed, another consumer's), up to --limit", async () => {
      const many = `opsdl-many-${tag}`;
      const nc = await connect({ servers: natsUrl, timeout: 2_000 });
      const js = nc.jetstream();
      const jsm = await nc.jetstreamManager();
      const seqs: number[] = [];
      try {
        // 200 dead letters, every third another consumer's and every seventh deleted: several read windows, with gaps.
        const kept: string[] = [];
        for (let i = 0; i < 200; i += 1) {
          const h = headers();
          h.set(DEAD_LETTER_HEADERS.eventId, `e${i}`);
          h.set(DEAD_LETTER_HEADERS.consumer, i % 3 === 0 ? other : many);
          const ack = await js.publish(`dead.opsdl${tag}.many`, new Uint8Array(), { headers: h });
          seqs.push(ack.seq);
          if (i % 7 === 0) await jsm.streams.deleteMessage(DEAD_LETTER_STREAM.name, ack.seq);
          else if (i % 3 !== 0) kept.push(`e${i}`);
        }
        const env = { NATS_URL: natsUrl };
        const listed = await ops(["dead-letters", "--consumer", many, "--limit", "1000"], env);
        expect(listed.printed?.map((letter) => letter.eventId)).toEqual(kept);
        const first = await ops(["dead-letters", "--consumer", many, "--limit", "50"], env);
        expect(first.printed?.map((letter) => letter.eventId)).toEqual(kept.slice(0, 50));
      } finally {
        for (const seq of seqs) await jsm.streams.deleteMessage(DEAD_LETTER_STREAM.name, seq).catch(() => false);
        await nc.close();
      }
    });
  });
});
