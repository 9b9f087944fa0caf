// Summarises a V8 .cpuprofile: the functions with the most self time, and self time per module.
// Also a CLI: `node bench/profile.js <file.cpuprofile> [top]`.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { relative } from "node:path";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Where a function lives, short, and the module it belongs to: an npm package, a project file, a builtin. */
function placeOf(url) {
  if (!url) return { location: "", module: "(native/V8)" };
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const location = path.slice(nm + "/node_modules/".length);
    const parts = location.split("/");
    return { location, module: parts[0]?.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? location) };
  }
  const location = path.startsWith("/") ? relative(ROOT, path) : path;
  return { location, module: location };
}

/**
 * Self time per function (hitCount share of the profiled wall time), the idle share left out of the
 * percentages so they say where the busy time went.
 */
export function summarizeProfile(file, top = 15) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const totalHits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  const msPerHit = totalHits > 0 ? wallMs / totalHits : 0;
  const byFunction = new Map();
  const byModule = new Map();
  let idleHits = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idleHits += hits;
      continue;
    }
    const { location, module } = placeOf(url);
    // lineNumber is 0-based in profiles
    const key = `${functionName || "(anonymous)"}\u0000${location}\u0000${lineNumber}`;
    const entry = byFunction.get(key) ?? {
      functionName: functionName || "(anonymous)",
      location: location ? `${location}:${lineNumber + 1}` : "",
      hits: 0,
    };
    entry.hits += hits;
    byFunction.set(key, entry);
    // (program), (garbage collector) and the like have no url: they are their own bucket
    const mod = functionName.startsWith("(") ? functionName : module;
    byModule.set(mod, (byModule.get(mod) ?? 0) + hits);
  }
  const busyHits = totalHits - idleHits;
  const share = (hits) => ({ selfMs: Math.round(hits * msPerHit), percentOfBusy: busyHits ? Math.round((1000 * hits) / busyHits) / 10 : 0 });
  return {
    file,
    wallSeconds: Math.round(wallMs / 100) / 10,
    busyPercent: totalHits ? Math.round((100 * busyHits) / totalHits) : 0,
    functions: [...byFunction.values()]
      .sort((a, b) => b.hits - a.hits)
      .slice(0, top)
      .map(({ functionName, location, hits }) => ({ functionName, location, ...share(hits) })),
    modules: [...byModule.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, hits]) => ({ module, ...share(hits) })),
  };
}

export function formatProfile(summary) {
  const lines = [
    `profile ${summary.file}: ${summary.wallSeconds} s wall, busy ${summary.busyPercent}% (percentages below are of busy time)`,
    "  self ms   busy%  function  (location)",
  ];
  for (const f of summary.functions) {
    lines.push(`  ${String(f.selfMs).padStart(7)}  ${f.percentOfBusy.toFixed(1).padStart(5)}%  ${f.functionName}  ${f.location ? `(${f.location})` : ""}`);
  }
  lines.push("  self time by module:");
  for (const m of summary.modules) {
    lines.push(`  ${String(m.selfMs).padStart(7)}  ${m.percentOfBusy.toFixed(1).padStart(5)}%  ${m.module}`);
  }
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: node bench/profile.js <file.cpuprofile> [top]\n");
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, Number(top) || 15))}\n`);
}
