// The two adapters of a month's file lines write the same bytes for the same ledger rows: COPY on the real
// PostgreSQL, pages on PostgreSQL and on PGlite, and all of them what an RFC 4180 writer makes of the rows.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { openDatabase, type Database } from "../common/database.js";
import { createLogger } from "../common/logger.js";
import { migrate } from "../common/migrate.js";
import { copiedFileLines, CrlfRecords, pagedFileLines } from "./file-lines.js";
import { reconciliationService } from "./service.js";

const PROVIDER = "A101";
const MONTH = "202610";

interface LedgerRow {
  orderNo: string;
  provinceInstNo: string;
  instType: string;
  type: string;
  serviceName: string;
  bookedTime: string;
  completedTime: string;
  code: string;
  keyStatus: number;
}

/** The oracle: each field quoted when it holds a comma, a quote or a line break, inner quotes doubled. */
const field = (value: string) => (/[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
/** A text a spreadsheet would run as a formula (OWASP's list of first characters) gets a leading apostrophe. */
const asText = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);
const expectedLines = (rows: readonly LedgerRow[], branches: ReadonlyMap<string, string>) =>
  [...rows]
    .sort((a, b) => (a.orderNo < b.orderNo ? -1 : 1))
    .map((r) =>
      [MONTH, asText(r.provinceInstNo), asText(branches.get(r.provinceInstNo) ?? ""), asText(r.instType), asText(r.type), asText(r.serviceName), r.bookedTime, r.completedTime, asText(r.code), r.orderNo]
        .map(field)
        .concat(String(r.keyStatus))
        .join(",") + "\r\n",
    )
    .join("");

const row = (orderNo: string, fields: Partial<LedgerRow> = {}): LedgerRow => ({
  orderNo,
  provinceInstNo: "100000",
  instType: "01",
  type: "310001",
  serviceName: "洗车服务",
  bookedTime: "20261002090203",
  completedTime: "20261011120000",
  code: `CODE-${orderNo}`,
  keyStatus: 2,
  ...fields,
});

async function load(db: Database, rows: readonly LedgerRow[], branches: ReadonlyMap<string, string>): Promise<void> {
  await db.query("DELETE FROM reconciliation.ledger");
  await db.query("DELETE FROM reconciliation.branch");
  await db.query(
    `INSERT INTO reconciliation.ledger (order_no, provider_code, month, province_inst_no, inst_type, type, service_name, booked_time, completed_time, code, key_status)
     SELECT r.order_no, $1, $2, r.p, r.i, r.t, r.s, r.b, r.c, r.code, r.k
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[])
         AS r(order_no, p, i, t, s, b, c, code, k)`,
    [
      PROVIDER,
      MONTH,
      rows.map((r) => r.orderNo),
      rows.map((r) => r.provinceInstNo),
      rows.map((r) => r.instType),
      rows.map((r) => r.type),
      rows.map((r) => r.serviceName),
      rows.map((r) => r.bookedTime),
      rows.map((r) => r.completedTime),
      rows.map((r) => r.code),
      rows.map((r) => r.keyStatus),
    ],
  );
  for (const [provinceInstNo, name] of branches) {
    await db.query("INSERT INTO reconciliation.branch (province_inst_no, name) VALUES ($1, $2)", [provinceInstNo, name]);
  }
  // A row of another month and one of another provider, in neither file.
  await db.query(
    `INSERT INTO reconciliation.ledger (order_no, provider_code, month, province_inst_no, inst_type, type, service_name, booked_time, completed_time, code, key_status)
     VALUES ('OTHER-MONTH', $1, '202609', '1', '01', '1', 's', '', '', 'c1', 2), ('OTHER-PROVIDER', 'B202', $2, '1', '01', '1', 's', '', '', 'c2', 2)`,
    [PROVIDER, MONTH],
  );
}

async function bytesOf(lines: AsyncIterable<Uint8Array>): Promise<string> {
  const pieces: Uint8Array[] = [];
  for await (const piece of lines) pieces.push(piece);
  return Buffer.concat(pieces).toString("utf8");
}

/** Text PostgreSQL stores: no NUL, no lone surrogate (both refused before they reach the ledger). */
const text = fc.string({ unit: fc.oneof(fc.constantFrom(",", '"', "\r", "\n", "\r\n", " ", "\\", ".", "\t", "分行", "洗车"), fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 })), maxLength: 12 }).filter((s) => !s.includes("\u0000"));

describe("a month's file lines", () => {
  let server: TestDatabase | undefined;
  let pglite: Database;
  const logger = createLogger("test", "warn");
  const migrationsDir = reconciliationService.schema.migrationsDir;

  beforeAll(async () => {
    pglite = await openDatabase({ logger });
    await migrate(pglite, { schema: "reconciliation", migrationsDir, logger });
    if (process.env.DATABASE_URL) {
      server = await testDatabase();
      await migrate(server.db, { schema: "reconciliation", migrationsDir, logger });
    }
  });
  afterAll(async () => {
    await pglite?.close();
    await server?.drop();
  });

  /** The month's bytes by every adapter this run has: COPY and pages on the server, pages on PGlite. */
  async function everyAdapter(rows: readonly LedgerRow[], branches: ReadonlyMap<string, string>): Promise<Record<string, string>> {
    await load(pglite, rows, branches);
    const made: Record<string, string> = { "pages on PGlite": await bytesOf(pagedFileLines(pglite).lines(PROVIDER, MONTH)) };
    if (server) {
      const { db } = server;
      await load(db, rows, branches);
      if (!db.copyOut) throw new Error("a PostgreSQL server streams COPY");
      made["COPY on PostgreSQL"] = await bytesOf(copiedFileLines((sql) => db.copyOut!(sql)).lines(PROVIDER, MONTH));
      made["pages on PostgreSQL"] = await bytesOf(pagedFileLines(db).lines(PROVIDER, MONTH));
    }
    return made;
  }

  const expectEveryAdapter = async (rows: readonly LedgerRow[], branches: ReadonlyMap<string, string>) => {
    const expected = expectedLines(rows, branches);
    for (const [adapter, bytes] of Object.entries(await everyAdapter(rows, branches))) expect({ adapter, bytes }).toEqual({ adapter, bytes: expected });
  };

  it.runIf(process.env.DATABASE_URL)("runs COPY on the real PostgreSQL", () => {
    expect(server?.db.copyOut).toBeTypeOf("function");
  });

  it("writes the same bytes by COPY and by pages for values that need quoting, Chinese text and empty fields", async () => {
    const branches = new Map([
      ["100000", "北京分行"],
      ["110000", "天津,分行"],
      ["120000", 'say "hi"'],
      ["130000", ""],
    ]);
    await expectEveryAdapter(
      [
        row("R01"),
        row("R02", { provinceInstNo: "110000", serviceName: "洗车服务,标准" }),
        row("R03", { provinceInstNo: "120000", serviceName: 'Car wash, "deluxe"' }),
        row("R04", { serviceName: "two\nlines", code: "cr\rhere" }),
        row("R05", { serviceName: "crlf\r\ninside", provinceInstNo: "130000" }),
        row("R06", { provinceInstNo: "999999", bookedTime: "" }),
        row("R07", { serviceName: '"', code: '""', instType: "" }),
        row("R08", { serviceName: "\\.", code: "back\\slash", type: "\t" }),
        row("R09", { serviceName: " spaced ", code: "末尾," }),
        row("R10", { serviceName: "😀 emoji, 权益" }),
      ],
      branches,
    );
  });

  it("writes a text PSBC or an operator gave that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) with a leading apostrophe", async () => {
    const rows = [
      row("F01", { provinceInstNo: '=HYPERLINK("http://x.example","点击")', serviceName: "+1+1" }),
      row("F02", { provinceInstNo: "-2+3", code: "@SUM(A1)", instType: "\t=1", type: "\r=1" }),
    ];
    const made = await everyAdapter(rows, new Map([["-2+3", "=cmd|' /C calc'!A0"]]));
    for (const bytes of Object.values(made)) {
      expect(bytes.split("\r\n")[0]).toBe(`${MONTH},"'=HYPERLINK(""http://x.example"",""点击"")",,01,310001,'+1+1,20261002090203,20261011120000,CODE-F01,F01,2`);
      expect(bytes).toContain(`${MONTH},'-2+3,'=cmd|' /C calc'!A0,'\t=1,"'\r=1",`);
      expect(bytes).toContain(",'@SUM(A1),F02,2");
    }
    await expectEveryAdapter(rows, new Map([["-2+3", "=cmd|' /C calc'!A0"]]));
  });

  it("writes the same bytes over many pages and many COPY pieces", async () => {
    const rows = Array.from({ length: 12_345 }, (_, i) =>
      row(`R${String(i).padStart(6, "0")}`, { serviceName: i % 3 === 0 ? `洗车,第${i}次` : i % 3 === 1 ? `line\n${i}` : `plain ${i}`, provinceInstNo: String(100000 + (i % 5) * 10000) }),
    );
    await expectEveryAdapter(rows, new Map([["100000", "北京分行"], ["110000", "天津,分行"]]));
  });

  it("writes the same bytes by every adapter for any text the ledger holds", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ provinceInstNo: text, serviceName: text, code: text, instType: text, branch: text }), { minLength: 1, maxLength: 8 }),
        async (generated) => {
          const rows = generated.map((g, i) => row(`R${i}`, { provinceInstNo: g.provinceInstNo, serviceName: g.serviceName, code: g.code, instType: g.instType }));
          const branches = new Map(generated.map((g) => [g.provinceInstNo, g.branch]));
          await expectEveryAdapter(rows, branches);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("ends records with CRLF wherever COPY's output is cut into pieces, leaving line breaks inside quotes alone", () => {
    fc.assert(
      fc.property(fc.array(fc.array(text, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), (records, cuts) => {
        const lf = Buffer.from(records.map((fields) => `${fields.map(field).join(",")}\n`).join(""), "utf8");
        const crlf = records.map((fields) => `${fields.map(field).join(",")}\r\n`).join("");
        const at = [...new Set(cuts.map((cut) => cut % (lf.length + 1)))].sort((a, b) => a - b);
        const pieces = [0, ...at].map((from, i) => lf.subarray(from, at[i] ?? lf.length));
        const converter = new CrlfRecords();
        expect(Buffer.concat(pieces.map((piece) => converter.convert(piece))).toString("utf8")).toBe(crlf);
      }),
    );
  });
});
