// `npm run psbc`: the bank's side of the PSBC contract against the embedded platform's gateway (the request
// encrypted as PSBC encrypts it): a booking, its detail and cancel through the real routes, exit codes by the
// contract's answer, usage errors, and a gateway that is not there.
import { describe, expect, it } from "vitest";
import { freshCode, useTestPlatform } from "../../test/support/platform.js";
import { runPsbc } from "./psbc-command.js";

const test = useTestPlatform("embedded");

async function psbc(argv: string[], env: NodeJS.ProcessEnv = { GATEWAY_URL: test.platform.gatewayUrl }) {
  let stdout = "";
  let stderr = "";
  const exitCode = await runPsbc(argv, { env, stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  const answer = stdout.slice(stdout.indexOf("\nHTTP ") + 1);
  const [status, ...json] = answer.split("\n");
  return { exitCode, stdout, stderr, status, body: stdout.includes("\nHTTP ") ? (JSON.parse(json.join("\n")) as { code: number; msg: string; data?: Record<string, unknown> }) : undefined };
}

describe("npm run psbc", () => {
  it("books a code, reads its detail and cancels it as the bank would, exiting 0 on each success", async () => {
    const code = freshCode();
    const booked = await psbc(["appointment", code, "--mac", "customer-psbc-cli"]);
    expect(booked).toMatchObject({ exitCode: 0, status: "HTTP 200", body: { code: 0, data: { url: expect.any(String) } } });
    expect(booked.stdout).toContain(`POST ${test.platform.gatewayUrl}/api/v1/service/appointment`);
    expect((await test.platform.orderRow(code))?.status).toBeDefined();
    const detail = await psbc(["detail", code, "--mac", "customer-psbc-cli"]);
    expect(detail).toMatchObject({ exitCode: 0, body: { code: 0, data: { url: booked.body?.data?.url } } });
    expect(await psbc(["cancel", code, "--mac", "customer-psbc-cli"])).toMatchObject({ exitCode: 0, body: { code: 0 } });
  });

  it("exits 1 on the contract's refusal, printing its status and envelope (a code other than 0)", async () => {
    const refused = await psbc(["detail", freshCode()]);
    expect(refused.exitCode).toBe(1);
    expect(refused.status).toMatch(/^HTTP \d{3}$/);
    expect(refused.body?.code).not.toBe(0);
    expect(refused.body?.msg).toEqual(expect.any(String));
  });

  it("exits 2 on a usage error before calling anything: no operation, an unknown one, no code, an extra argument, an unknown option, a bad key", async () => {
    for (const argv of [[], ["book", "C1"], ["detail"], ["detail", "C1", "C2"], ["detail", "C1", "--nope"]]) {
      const run = await psbc(argv);
      expect(run, argv.join(" ")).toMatchObject({ exitCode: 2, stdout: "" });
      expect(run.stderr).toContain("usage: npm run psbc");
    }
    const badKey = await psbc(["detail", "C1"], { GATEWAY_URL: test.platform.gatewayUrl, SANDBOX_AES_KEY: "short" });
    expect(badKey).toMatchObject({ exitCode: 2, stdout: "" });
    expect(badKey.stderr).toContain("SANDBOX_AES_KEY");
  });

  it("exits 1 naming the failure when the gateway is not there", async () => {
    const run = await psbc(["detail", "C1"], { GATEWAY_URL: "http://127.0.0.1:9" });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^psbc failed: /);
  });
});
