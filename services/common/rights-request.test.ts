import { createCipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptRightsRequest, encryptRightsRequest, InvalidRightsRequest } from "./rights-request.js";

const secret = { key: "psbc-sandbox-key", iv: "psbc-sandbox-iv0" };

function encryptRaw(plain: string, key = secret.key, iv = secret.iv): string {
  const cipher = createCipheriv("aes-128-cbc", Buffer.from(key, "latin1"), Buffer.from(iv, "latin1"));
  return Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]).toString("base64");
}

describe("rights request crypto", () => {
  it("round-trips type, code and a mac containing '=' and '+'", () => {
    const request = { type: "310001", code: "16800G-VN4724-NX874-30VHR", mac: "a+b/c==" };
    const ciphertext = encryptRightsRequest(request, secret);
    expect(decryptRightsRequest(ciphertext, secret, "310001")).toEqual(request);
  });

  it("matches what PSBC's Java AES/CBC/PKCS5Padding produces (a fixed vector)", () => {
    const ciphertext = encryptRightsRequest({ type: "310001", code: "C1", mac: "M" }, secret);
    expect(ciphertext).toBe(encryptRaw("type=310001&code=C1&mac=M"));
  });

  const invalid: Array<[string, string]> = [
    ["empty", ""],
    ["not Base64", "%%%not-base64%%%"],
    ["Base64 of a length no block cipher makes", Buffer.from("short").toString("base64")],
    ["a wrong key", encryptRaw("type=310001&code=C1&mac=M", "another-key-0000")],
    ["a wrong IV (first block garbled)", encryptRaw("type=310001&code=C1&mac=M", secret.key, "another-iv-00000")],
    ["bad padding", (() => {
      const data = Buffer.from(encryptRaw("type=310001&code=C1&mac=M"), "base64");
      data[data.length - 1] = (data[data.length - 1] ?? 0) ^ 0xff;
      return data.toString("base64");
    })()],
    ["a plaintext that is no field list", encryptRaw("hello world")],
    ["a missing code", encryptRaw("type=310001&mac=M")],
    ["an empty code", encryptRaw("type=310001&code=&mac=M")],
    ["a missing mac", encryptRaw("type=310001&code=C1")],
    ["a repeated field", encryptRaw("type=310001&code=C1&code=C2&mac=M")],
    ["a plaintext type unlike the envelope's", encryptRaw("type=310002&code=C1&mac=M")],
    ["a code longer than 32", encryptRaw(`type=310001&code=${"C".repeat(33)}&mac=M`)],
    ["a code with spaces", encryptRaw("type=310001&code=C 1&mac=M")],
  ];

  it.each(invalid)("rejects %s with the same error and no detail", (_what, ciphertext) => {
    let caught: unknown;
    try {
      decryptRightsRequest(ciphertext, secret, "310001");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidRightsRequest);
    expect((caught as Error).message).toBe("invalid rights request");
  });
});
