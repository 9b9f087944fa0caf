// Two checkouts side by side on this machine, interleaved (A, B, A, B, …), so both see the same noise:
//   node bench/compare.js [--bench cluster|notify|reconciliation] <checkout A> <checkout B> [rounds]
// Each checkout must be built (`npm run build`).
// - cluster (the default): each checkout's bench/run.js; prints each scenario's ratio to the bare route, medians.
// - notify: this checkout's bench/notify-throughput.js on each checkout's build (BENCH_ROOT); median tasks/s.
// - reconciliation: this checkout's bench/reconciliation-file.js, one ledger for both (BENCH_ROOTS): each round
//   psql's COPY, then A's and B's generation; median ratios to psql, peak RSS, and whether the files are the same.
// Absolute figures on a shared machine vary several-fold between runs; ratios measured in one round compare.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const benchFlag = args.indexOf("--bench");
const bench = benchFlag >= 0 ? args.splice(benchFlag, 2)[1] : "cluster";
const [a, b, roundsArg] = args;
if (!a || !b || !["cluster", "notify", "reconciliation"].includes(bench)) {
  process.stderr.write("usage: node bench/compare.js [--bench cluster|notify|reconciliation] <checkout A> <checkout B> [rounds, default 2]\n");
  process.exit(2);
}
const rounds = Number(roundsArg ?? 2);
const checkouts = [path.resolve(a), path.resolve(b)];
const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
const print = (rows) => {
  process.stdout.write(`\nA = ${checkouts[0]}\nB = ${checkouts[1]}\nmedians over ${rounds} round(s):\n`);
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => (i === 0 ? cell.padEnd(18) : cell.padStart(12))).join("")}\n`);
};
const run = (script, cwd, env) => {
  const child = spawnSync(process.execPath, [script], { cwd, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...env } });
  if (child.status !== 0) {
    process.stderr.write(`${script} failed in ${cwd} (exit ${child.status})\n`);
    process.exit(1);
  }
};
const resultOf = (dir, name) => JSON.parse(readFileSync(path.join(dir, "bench/results", name), "utf8"));

if (bench === "reconciliation") {
  run("bench/reconciliation-file.js", HERE, { BENCH_ROOTS: checkouts.join(","), BENCH_ROUNDS: String(rounds) });
  const { psqlCopy, service } = resultOf(HERE, "reconciliation-file.json");
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
      run("bench/notify-throughput.js", HERE, { BENCH_ROOT: dir });
      results.get(dir).push(resultOf(HERE, "notify-throughput.json"));
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
} else {
  const results = new Map(checkouts.map((dir) => [dir, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const dir of checkouts) {
      process.stdout.write(`round ${round}: ${dir}\n`);
      const child = spawnSync(process.execPath, ["bench/run.js"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"], env: process.env });
      if (child.status !== 0) {
        process.stderr.write(`bench/run.js failed in ${dir} (exit ${child.status})\n`);
        process.exit(1);
      }
      results.get(dir).push(resultOf(dir, "latest.json").scenarios);
    }
  }
  const names = Object.keys(results.get(checkouts[0])[0]).filter((name) => name !== "bare");
  const rows = [["scenario", "A ratio", "B ratio", "B/A", "A p99/p50", "B p99/p50"]];
  for (const name of names) {
    const [ra, rb] = checkouts.map((dir) => median(results.get(dir).map((s) => s[name].reqPerSec / s.bare.reqPerSec)));
    const [ta, tb] = checkouts.map((dir) => median(results.get(dir).map((s) => s[name].p99Ms / Math.max(1, s[name].p50Ms))));
    rows.push([name, ra.toFixed(4), rb.toFixed(4), (rb / ra).toFixed(2), ta.toFixed(2), tb.toFixed(2)]);
  }
  print(rows);
}
