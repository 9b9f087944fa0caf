// Two checkouts (or one under two settings) side by side on this machine, interleaved (A, B, A, B, …), so both
// see the same noise:
//   node bench/compare.js <A> <B> [rounds]
//   node bench/compare.js --bench notify|reconciliation <checkout A> <checkout B> [rounds]
// where each side is a built checkout's folder (`npm run build`), optionally with variables for its run after a
// `?`: `../wt-main`, `.?RPC_TRANSPORT=connect-node`. A checkout laid out like this one is run by this harness
// (BENCH_CHECKOUT: the same scenarios for both); an older one by its own bench/run.js. Prints each round's
// ratios to the bare route, then per scenario the medians: A's and B's ratio, B/A, and p99/p50.
// --bench notify: this checkout's notify-throughput.js on each checkout's build (BENCH_ROOT), median tasks/s;
// --bench reconciliation: this checkout's reconciliation-file.js, one ledger for both (BENCH_ROOTS): each round
// psql's COPY, then A's and B's generation; median ratios to psql, peak RSS, and whether the files are the same.
// Absolute figures on a shared machine vary several-fold between runs; ratios measured in one round compare.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HARNESS = fileURLToPath(new URL("..", import.meta.url));
/** `--bench notify|reconciliation`: those benchmarks, A and B in one run (this checkout's script, their builds). */
const benchFlag = process.argv.indexOf("--bench");
const bench = benchFlag >= 0 ? process.argv.splice(benchFlag, 2)[1] : "cluster";
if (!["cluster", "notify", "reconciliation"].includes(bench)) {
  process.stderr.write("usage: node bench/compare.js [--bench cluster|notify|reconciliation] <A> <B> [rounds]\n");
  process.exit(2);
}
if (bench !== "cluster") {
  const [a, b, roundsArg] = process.argv.slice(2);
  const rounds = Number(roundsArg ?? 2);
  const checkouts = [path.resolve(a), path.resolve(b)];
  const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
  const print = (rows) => {
    process.stdout.write(`\nA = ${checkouts[0]}\nB = ${checkouts[1]}\nmedians over ${rounds} round(s):\n`);
    for (const row of rows) process.stdout.write(`${row.map((cell, i) => (i === 0 ? cell.padEnd(18) : cell.padStart(12))).join("")}\n`);
  };
  const run = (script, env) => {
    const child = spawnSync(process.execPath, [script], { cwd: HARNESS, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...env } });
    if (child.status !== 0) {
      process.stderr.write(`${script} failed (exit ${child.status})\n`);
      process.exit(1);
    }
  };
  const resultOf = (name) => JSON.parse(readFileSync(path.join(HARNESS, "bench/results", name), "utf8"));
  if (bench === "reconciliation") {
    run("bench/reconciliation-file.js", { BENCH_ROOTS: checkouts.join(","), BENCH_ROUNDS: String(rounds) });
    const { psqlCopy, service } = resultOf("reconciliation-file.json");
    const [ra, rb] = service;
    print([
      ["figure", "A", "B", "B/A"],
      ["seconds", String(ra.seconds), String(rb.seconds), (rb.seconds / ra.seconds).toFixed(2)],
      ["× psql COPY", String(ra.ratio), String(rb.ratio), (rb.ratio / ra.ratio).toFixed(2)],
      ["peak RSS MB", String(ra.peakRssMb), String(rb.peakRssMb), (rb.peakRssMb / ra.peakRssMb).toFixed(2)],
    ]);
    process.stdout.write(`psql COPY ${psqlCopy.seconds} s; the two files are ${ra.sha256 === rb.sha256 ? "byte for byte the same" : "DIFFERENT"}\n`);
  } else if (bench === "notify") {
    const results = new Map(checkouts.map((dir) => [dir, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const dir of checkouts) {
        process.stdout.write(`round ${round}: ${dir}\n`);
        run("bench/notify-throughput.js", { BENCH_ROOT: dir });
        results.get(dir).push(resultOf("notify-throughput.json"));
      }
    }
    const [ta, tb] = checkouts.map((dir) => median(results.get(dir).map((r) => r.tasksPerSecond)));
    const [ma, mb] = checkouts.map((dir) => Math.max(...results.get(dir).map((r) => r.peakRssMb)));
    print([
      ["figure", "A", "B", "B/A"],
      ["tasks/s", String(ta), String(tb), (tb / ta).toFixed(2)],
      ["peak RSS MB", String(ma), String(mb), (mb / ma).toFixed(2)],
    ]);
    for (const dir of checkouts) process.stdout.write(`${dir}: ${results.get(dir).map((r) => r.tasksPerSecond).join(", ")} tasks/s\n`);
  }
  process.exit(0);
}

const [a, b, roundsArg] = process.argv.slice(2);
if (!a || !b) {
  process.stderr.write("usage: node bench/compare.js <checkout A>[?VAR=value&…] <checkout B>[?VAR=value&…] [rounds, default 2]\n");
  process.exit(2);
}
const rounds = Number(roundsArg ?? 2);

function side(spec, label) {
  const [dir, query = ""] = spec.split("?");
  const checkout = path.resolve(dir);
  const env = Object.fromEntries(new URLSearchParams(query));
  // The modules this harness loads from a checkout's build (bench/run.js, fromCheckout).
  const sameLayout = ["services/sandbox/credentials.js", "services/order/psbc/rights-request.js"].every((m) => existsSync(path.join(checkout, "dist", m)));
  return { label, spec, checkout, env, sameLayout, results: [], cpu: [], rss: [] };
}
const sides = [side(a, "A"), side(b, "B")];
const reports = mkdtempSync(path.join(tmpdir(), "bench-compare-"));

for (let round = 1; round <= rounds; round++) {
  for (const s of sides) {
    const report = path.join(reports, `${s.label}-${round}.json`);
    const own = !s.sameLayout;
    process.stdout.write(`round ${round}: ${s.label} = ${s.spec}${own ? " (its own bench/run.js)" : ""}\n`);
    const run = spawnSync(process.execPath, ["bench/run.js"], {
      cwd: own ? s.checkout : HARNESS,
      stdio: ["ignore", "ignore", "inherit"],
      // The shape's floor is the harness's, the same for A and B: not measured in each round unless asked.
      env: { BENCH_FLOOR: "0", ...process.env, ...s.env, ...(own ? {} : { BENCH_CHECKOUT: s.checkout, BENCH_REPORT: report }) },
    });
    if (run.status !== 0) {
      process.stderr.write(`bench/run.js failed for ${s.spec} (exit ${run.status})\n`);
      process.exit(1);
    }
    const { scenarios, cpu, processes } = JSON.parse(readFileSync(own ? path.join(s.checkout, "bench/results/latest.json") : report, "utf8"));
    s.results.push(scenarios);
    s.cpu.push(cpu ?? {});
    s.rss.push(Object.fromEntries(Object.entries(processes ?? {}).map(([name, p]) => [name, p.peakRssMb])));
    const ratios = Object.entries(scenarios)
      .filter(([name, r]) => name !== "bare" && !r.skipped)
      .map(([name, r]) => `${name} ${(r.reqPerSec / scenarios.bare.reqPerSec).toFixed(4)}`);
    process.stdout.write(`  bare ${scenarios.bare.reqPerSec} req/s; ${ratios.join(", ")}\n`);
  }
}

const median = (values) => (values.length === 0 ? undefined : [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]);
const of = (s, name, figure) => median(s.results.filter((r) => r[name] && !r[name].skipped && r.bare).map((r) => figure(r[name], r.bare)));
const fixed = (value, digits) => (value === undefined ? "-" : value.toFixed(digits));
const names = [...new Set(sides.flatMap((s) => s.results.flatMap((r) => Object.keys(r))))].filter((name) => name !== "bare");
const rows = [["scenario", "A ratio", "B ratio", "B/A", "A p99/p50", "B p99/p50"]];
for (const name of names) {
  const [ra, rb] = sides.map((s) => of(s, name, (r, bare) => r.reqPerSec / bare.reqPerSec));
  const [ta, tb] = sides.map((s) => of(s, name, (r) => r.p99Ms / Math.max(1, r.p50Ms)));
  rows.push([name, fixed(ra, 4), fixed(rb, 4), ra && rb ? (rb / ra).toFixed(2) : "-", fixed(ta, 2), fixed(tb, 2)]);
}
const bares = sides.map((s) => median(s.results.map((r) => r.bare.reqPerSec)));
process.stdout.write(`\nA = ${sides[0].spec}\nB = ${sides[1].spec}\nmedians over ${rounds} round(s); bare route A ${bares[0]}, B ${bares[1]} req/s:\n`);
for (const row of rows) process.stdout.write(`${row.map((cell, i) => (i === 0 ? cell.padEnd(16) : cell.padStart(10))).join("")}\n`);

// CPU time per request of each service, which a loaded machine moves far less than throughput: the cost of the
// code itself. µs of user+system CPU of the process during the measured run ÷ its answered requests.
const SERVICES = ["gateway", "order", "voucher"];
const cpuPerRequest = (s, name, proc) =>
  median(
    s.results
      .map((r, i) => ({ r: r[name], c: s.cpu[i]?.[name] }))
      .filter(({ r, c }) => r && !r.skipped && c && r.requests > 0 && typeof c.processes?.[proc] === "number")
      .map(({ r, c }) => ((c.processes[proc] / 100) * c.seconds * 1e6) / r.requests),
  );
process.stdout.write(`\nCPU µs per request (median over the rounds), A → B:\n`);
process.stdout.write(`${["scenario", ...SERVICES.map((p) => `${p} A`), ...SERVICES.map((p) => `${p} B`), "all B/A"].map((c, i) => (i === 0 ? c.padEnd(16) : c.padStart(11))).join("")}\n`);
for (const name of names) {
  const [ca, cb] = sides.map((s) => SERVICES.map((p) => cpuPerRequest(s, name, p)));
  const sum = (values) => values.reduce((total, v) => total + (v ?? 0), 0);
  const cells = [...ca, ...cb].map((v) => fixed(v, 0));
  process.stdout.write(`${[name, ...cells, sum(ca) > 0 ? (sum(cb) / sum(ca)).toFixed(2) : "-"].map((c, i) => (i === 0 ? c.padEnd(16) : c.padStart(11))).join("")}\n`);
}

// The memory aim's figure: each service's peak RSS over the whole run (VmHWM or the highest sample), in MB.
const rssOf = (s, proc) => median(s.rss.map((r) => r[proc]).filter((v) => typeof v === "number"));
process.stdout.write(`\npeak RSS MB (median over the rounds), A → B:\n`);
for (const proc of SERVICES) {
  const [ma, mb] = sides.map((s) => rssOf(s, proc));
  process.stdout.write(`${proc.padEnd(16)}${fixed(ma, 1).padStart(11)}${fixed(mb, 1).padStart(11)}${(ma && mb ? (mb / ma).toFixed(2) : "-").padStart(11)}\n`);
}
