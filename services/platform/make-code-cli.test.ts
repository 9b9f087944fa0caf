import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMakeCode } from "./make-code-command.js";

const channel = generateKeyPairSync("rsa", { modulusLength: 2048 });
const whale = generateKeyPairSync("rsa", { modulusLength: 2048 });
const whalePublicKey = whale.publicKey.export({ format: "der", type: "spki" }).toString("base64");
let dir = "";
let keyFile = "";

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "make-code-cli-"));
  keyFile = path.join(dir, "channel-private.pem");
  await writeFile(keyFile, channel.privateKey.export({ format: "pem", type: "pkcs8" }));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function makeCode(argv: string[], fetch?: typeof globalThis.fetch, now = 1_000) {
  let stdout = "";
  let stderr = "";
  const exitCode = await runMakeCode(argv, { env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), fetch, now: () => now });
  return { exitCode, stdout, stderr };
}

/** A gateway answering `text`, signed by WHALE's key; the bodies it received. */
function gateway(text: string, bodies: string[] = []): typeof globalThis.fetch {
  return (async (_url: string, init: RequestInit) => {
    bodies.push(String(init.body));
    return new Response(text, { headers: { "x-signature": sign("sha256", Buffer.from(text), whale.privateKey).toString("base64") } });
  }) as typeof globalThis.fetch;
}

const never = (() => {
  throw new Error("not called");
}) as unknown as typeof globalThis.fetch;

describe("npm run make-code", () => {
  it("signs the same body on every run of one --order, so a second run repeats the order", async () => {
    const bodies: string[] = [];
    const args = ["--channel", "10000002", "--key", keyFile, "--whale-key", whalePublicKey, "--ticket", "9000000001", "--order", "SO0001", "--num", "2"];
    const first = await makeCode(args, gateway('{"returnCode":"00"}', bodies), 1_000);
    const second = await makeCode(args, gateway('{"returnCode":"00"}', bodies), 2_000);
    expect(first).toMatchObject({ exitCode: 0, stderr: expect.stringContaining("verified") });
    expect(second.exitCode).toBe(0);
    expect(bodies[0]).toBe(bodies[1]);
    expect(JSON.parse(bodies[0]!)).toMatchObject({ saleChannelOrderId: "SO0001", item: { ticketId: 9000000001, codeNum: 2 } });
  });

  it("exits 1 on a returnCode other than 00 and on a wrong answer signature", async () => {
    expect(await makeCode(["--channel", "1", "--key", keyFile, "--ticket", "1"], gateway('{"returnCode":"03"}'))).toMatchObject({ exitCode: 1 });
    const forged = (async () => new Response('{"returnCode":"00"}', { headers: { "x-signature": "AAAA" } })) as unknown as typeof globalThis.fetch;
    expect(await makeCode(["--channel", "1", "--key", keyFile, "--whale-key", whalePublicKey, "--ticket", "1"], forged)).toMatchObject({
      exitCode: 1,
      stderr: expect.stringContaining("MISSING OR WRONG"),
    });
  });

  it("exits 2 with its usage on missing or unknown arguments", async () => {
    for (const argv of [[], ["--bogus"], ["--channel", "1", "--key", keyFile], ["--channel", "1", "--key", keyFile, "--ticket", "x"]]) {
      const result = await makeCode(argv, never);
      expect(result).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("usage: npm run make-code") });
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("exits 1 with one line, no stack, on a missing key file, the gateway down, or a non-JSON answer", async () => {
    const missing = await makeCode(["--channel", "1", "--key", path.join(dir, "none.pem"), "--ticket", "1"], never);
    expect(missing).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/^make-code failed: ENOENT/) });
    const down = (async () => {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:8080") });
    }) as unknown as typeof globalThis.fetch;
    expect(await makeCode(["--channel", "1", "--key", keyFile, "--ticket", "1"], down)).toMatchObject({
      exitCode: 1,
      stderr: "make-code failed: fetch failed: connect ECONNREFUSED 127.0.0.1:8080\n",
    });
    const html = (async () => new Response("<html>not found</html>", { status: 404 })) as unknown as typeof globalThis.fetch;
    expect(await makeCode(["--channel", "1", "--key", keyFile, "--ticket", "1"], html)).toMatchObject({
      exitCode: 1,
      stderr: expect.stringContaining("HTTP 404, not a make-code answer"),
    });
  });
});
