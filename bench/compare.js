// Two checkouts side by side on this machine, interleaved (A, B, A, B, …), so both see the same noise:
//   node bench/compare.js <checkout A> <checkout B> [rounds]
// Each checkout must be built (`npm run build`). Prints each round's ratios to the bare route, then the medians.
// Absolute figures on a shared machine vary several-fold between runs; ratios measured in one round compare.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

const [a, b, roundsArg] = process.argv.slice(2);
if (!a || !b) {
  process.stderr.write("usage: node bench/compare.js <checkout A> <checkout B> [rounds, default 2]\n");
  process.exit(2);
}
const rounds = Number(roundsArg ?? 2);
const checkouts = [path.resolve(a), path.resolve(b)];
const results = new Map(checkouts.map((dir) => [dir, []]));

for (let round = 1; round <= rounds; round++) {
  for (const dir of checkouts) {
    process.stdout.write(`round ${round}: ${dir}\n`);
    const run = spawnSync(process.execPath, ["bench/run.js"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"], env: process.env });
    if (run.status !== 0) {
      process.stderr.write(`bench/run.js failed in ${dir} (exit ${run.status})\n`);
      process.exit(1);
    }
    const { scenarios } = JSON.parse(readFileSync(path.join(dir, "bench/results/latest.json"), "utf8"));
    results.get(dir).push(scenarios);
  }
}

const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
const names = Object.keys(results.get(checkouts[0])[0]).filter((name) => name !== "bare");
const rows = [["scenario", "A ratio", "B ratio", "B/A", "A p99/p50", "B p99/p50"]];
for (const name of names) {
  const [ra, rb] = checkouts.map((dir) => median(results.get(dir).map((s) => s[name].reqPerSec / s.bare.reqPerSec)));
  const [ta, tb] = checkouts.map((dir) => median(results.get(dir).map((s) => s[name].p99Ms / Math.max(1, s[name].p50Ms))));
  rows.push([name, ra.toFixed(4), rb.toFixed(4), (rb / ra).toFixed(2), ta.toFixed(2), tb.toFixed(2)]);
}
process.stdout.write(`\nA = ${checkouts[0]}\nB = ${checkouts[1]}\nmedians over ${rounds} round(s):\n`);
for (const row of rows) process.stdout.write(`${row.map((cell, i) => (i === 0 ? cell.padEnd(14) : cell.padStart(10))).join("")}\n`);
