// The body of a month's reconciliation file (every line after the header) as PostgreSQL formats it, through one
// port with two adapters that write the same bytes: COPY on a PostgreSQL server (the CSV made in C, streamed in
// ~64 KiB pieces), and pages of SQL-formatted lines where there is no COPY stream (PGlite).
import { sqlLiteral, type Database } from "../common/database.js";

/** A month's file lines: CSV (RFC 4180 quoting), CRLF-ended, in order number order, in pieces of any size. */
export interface FileLines {
  lines(providerCode: string, month: string): AsyncIterable<Uint8Array>;
}

/** COPY where the database streams it (a PostgreSQL server), pages otherwise (PGlite). */
export function fileLinesOf(db: Database): FileLines {
  const { copyOut } = db;
  return copyOut ? copiedFileLines((copySql) => copyOut.call(db, copySql)) : pagedFileLines(db);
}

/**
 * The 11 columns in the contract's order. Every text column passes through nullif: COPY quotes an empty string
 * (`""`, to tell it from NULL) and writes NULL as nothing, and the file's empty field is nothing. The texts that
 * come from PSBC or an operator are read in their file form (`file_*`, migration 002: a spreadsheet formula's
 * first character behind an apostrophe); our own (month, times, order number) cannot start as a formula.
 */
const COPY_COLUMNS = `nullif(l.month, ''), nullif(l.file_province_inst_no, ''), nullif(b.file_name, ''), nullif(l.file_inst_type, ''),
  nullif(l.file_type, ''), nullif(l.file_service_name, ''), nullif(l.booked_time, ''), nullif(l.completed_time, ''), nullif(l.file_code, ''),
  nullif(l.order_no, ''), l.key_status`;
const LEDGER = `reconciliation.ledger l LEFT JOIN reconciliation.branch b ON b.province_inst_no = l.province_inst_no`;

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/**
 * `COPY (…) TO STDOUT (FORMAT csv)`: PostgreSQL quotes a field holding a comma, a quote or a line break, as the
 * file does, and ends each record with LF, which becomes CRLF here.
 */
export function copiedFileLines(copyOut: (copySql: string) => AsyncIterable<Buffer>): FileLines {
  return {
    async *lines(providerCode, month) {
      const copySql = `COPY (SELECT ${COPY_COLUMNS} FROM ${LEDGER}
        WHERE l.provider_code = ${sqlLiteral(providerCode)} AND l.month = ${sqlLiteral(month)} ORDER BY l.order_no)
        TO STDOUT (FORMAT csv)`;
      const records = new CrlfRecords();
      for await (const data of copyOut(copySql)) yield records.convert(data);
    },
  };
}

/**
 * Turns COPY's LF record ends into CRLF, piece by piece: a LF inside a quoted field is data and stays as it is.
 * Whether the scan is inside quotes carries over from one piece to the next.
 */
export class CrlfRecords {
  private quoted = false;

  convert(data: Buffer): Buffer {
    const ends: number[] = [];
    let nextQuote = data.indexOf(QUOTE);
    let nextLf = data.indexOf(LF);
    // Each quote toggles quoting (a doubled quote inside a field toggles twice); a LF outside quotes ends a record.
    for (;;) {
      if (this.quoted) {
        if (nextQuote < 0) break;
        this.quoted = false;
        const at = nextQuote + 1;
        nextQuote = data.indexOf(QUOTE, at);
        if (nextLf >= 0 && nextLf < at) nextLf = data.indexOf(LF, at);
      } else if (nextLf >= 0 && (nextQuote < 0 || nextLf < nextQuote)) {
        ends.push(nextLf);
        nextLf = data.indexOf(LF, nextLf + 1);
      } else if (nextQuote >= 0) {
        this.quoted = true;
        nextQuote = data.indexOf(QUOTE, nextQuote + 1);
      } else {
        break;
      }
    }
    if (ends.length === 0) return data;
    const out = Buffer.allocUnsafe(data.length + ends.length);
    let from = 0;
    let to = 0;
    for (const end of ends) {
      to += data.copy(out, to, from, end);
      out[to++] = CR;
      out[to++] = LF;
      from = end + 1;
    }
    data.copy(out, to, from);
    return out;
  }
}

/** Ledger rows per page. */
const PAGE_ROWS = 5_000;

/** The same fields as COPY writes them, quoted by SQL (the quoting inlined, see reconciliation.csv_field). */
const PAGE_SQL = `
  SELECT l.order_no, concat_ws(',', reconciliation.csv_field(l.month), reconciliation.csv_field(l.file_province_inst_no), reconciliation.csv_field(coalesce(b.file_name, '')),
           reconciliation.csv_field(l.file_inst_type), reconciliation.csv_field(l.file_type), reconciliation.csv_field(l.file_service_name),
           reconciliation.csv_field(l.booked_time), reconciliation.csv_field(l.completed_time), reconciliation.csv_field(l.file_code),
           reconciliation.csv_field(l.order_no), l.key_status) AS line
  FROM ${LEDGER}
  WHERE l.provider_code = $1 AND l.month = $2 AND l.order_no > $3 ORDER BY l.order_no LIMIT ${PAGE_ROWS}`;

/** Pages by order number, each a query of its own: PGlite is one connection, which a long read would hold. */
export function pagedFileLines(db: Pick<Database, "query">): FileLines {
  return {
    async *lines(providerCode, month) {
      let after = "";
      for (;;) {
        const { rows } = await db.query<{ order_no: string; line: string }>(PAGE_SQL, [providerCode, month, after]);
        if (rows.length > 0) yield Buffer.from(rows.map((row) => `${row.line}\r\n`).join(""), "utf8");
        const last = rows.at(-1);
        if (!last || rows.length < PAGE_ROWS) return;
        after = last.order_no;
      }
    },
  };
}
