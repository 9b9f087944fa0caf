import { createCipheriv } from "node:crypto";
import fc from "fast-check";
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
    ["a code with a NUL", encryptRaw("type=310001&code=C\u00001&mac=M")],
    ["a code of other characters", encryptRaw("type=310001&code=C_1&mac=M")],
    ["an empty mac", encryptRaw("type=310001&code=C1&mac=")],
    ["a mac longer than 128", encryptRaw(`type=310001&code=C1&mac=${"M".repeat(129)}`)],
    ["a mac with a NUL", encryptRaw("type=310001&code=C1&mac=M\u0000")],
    ["a mac with a control character", encryptRaw("type=310001&code=C1&mac=M\n")],
    ["a mac of bytes that are no UTF-8 text", encryptRaw("type=310001&code=C1&mac=\ufffd\ufffd")],
    ["an unknown field", encryptRaw("type=310001&code=C1&mac=M&x=1")],
    ["an unknown field name that is empty-valued", encryptRaw("type=310001&code=C1&mac=M&mac2=")],
    ["a trailing '&'", encryptRaw("type=310001&code=C1&mac=M&")],
    ["a missing type", encryptRaw("code=C1&mac=M")],
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

  it("accepts every code and mac of the allowed characters and lengths, exactly as encrypted", () => {
    const code = fc.stringMatching(/^[A-Za-z0-9-]{1,32}$/);
    const mac = fc.stringMatching(/^[A-Za-z0-9+/=_-]{1,128}$/);
    fc.assert(
      fc.property(code, mac, (c, m) => {
        const request = { type: "310001", code: c, mac: m };
        expect(decryptRightsRequest(encryptRightsRequest(request, secret), secret, "310001")).toEqual(request);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses every plaintext that is not exactly type, code and mac of the allowed characters", () => {
    // The generators put the fields in this order, so a plaintext is acceptable exactly when it matches.
    const acceptable = /^type=310001&code=[A-Za-z0-9-]{1,32}&mac=[A-Za-z0-9+/=_-]{1,128}$/;
    const plaintext = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.tuple(fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "binary", maxLength: 160 })).map(
        ([c, m]) => `type=310001&code=${c}&mac=${m}`,
      ),
    );
    fc.assert(
      fc.property(plaintext, (plain) => {
        fc.pre(!acceptable.test(plain));
        expect(() => decryptRightsRequest(encryptRaw(plain), secret, "310001")).toThrow(InvalidRightsRequest);
      }),
      { numRuns: 1000 },
    );
  });
});
