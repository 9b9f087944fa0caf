// Child processes of the benchmark and what the kernel says about them: spawn, wait for, stop, load, RSS and CPU
// sampling.
import { spawn, execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import autocannon from "autocannon";

const STOP_GRACE_MS = 5_000;

/** A free TCP port on 127.0.0.1 (the kernel picks it; the tiny window before the child binds it is accepted). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `node [nodeArgs] script [args]` with exactly `env` (plus PATH/HOME), its output going straight to
 * `logFile` so the load generator spends no CPU on it.
 */
export function startChild({ name, script, args = [], nodeArgs = [], env, cwd, logFile, graceMs = STOP_GRACE_MS }) {
  // The logs folder is not in the repository (its files are ignored): a fresh clone has none yet.
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, "w");
  const proc = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const child = { name, proc, pid: proc.pid, logFile, graceMs, exited: null };
  child.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  child.alive = () => proc.exitCode === null && proc.signalCode === null;
  return child;
}

/** SIGTERM, then SIGKILL after the child's grace period; resolves when it is gone. */
export async function stopChild(child) {
  if (!child.alive()) return child.exited;
  child.proc.kill("SIGTERM");
  let timer;
  const killed = new Promise((resolve) => {
    timer = setTimeout(() => {
      if (child.alive()) child.proc.kill("SIGKILL");
      resolve();
    }, child.graceMs);
  });
  await Promise.race([child.exited, killed]);
  clearTimeout(timer);
  return child.exited;
}

/** The last `lines` lines of a child's log, for failure reports. */
export function logTail(child, lines = 30) {
  try {
    return readFileSync(child.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Log lines at warn level or above (pino levels 40+), counted by message, for the report. */
export function logProblems(child) {
  const counts = new Map();
  let text = "";
  try {
    text = readFileSync(child.logFile, "utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n")) {
    if (!line) continue;
    let key;
    try {
      const entry = JSON.parse(line);
      if (typeof entry.level === "number" && entry.level < 40) continue;
      const detail = entry.err?.message ?? entry.error;
      key = `${entry.level >= 50 ? "error" : "warn"}: ${entry.msg ?? ""}${detail ? ` (${String(detail).slice(0, 120)})` : ""}`;
    } catch {
      key = `raw: ${line.slice(0, 200)}`;
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** VmRSS and VmHWM of a process in kB, or null once it is gone. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return { rssKb: rss ? Number(rss[1]) : 0, hwmKb: hwm ? Number(hwm[1]) : 0 };
  } catch {
    return null;
  }
}

/** User+system CPU seconds a process has used so far, or null once it is gone. */
export function cpuSecondsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses; the fields after its closing paren are plain.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Whole-machine busy and total CPU seconds (all cores) since boot, from /proc/stat. */
export function machineCpu() {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

/**
 * Samples VmRSS of every tracked process every `intervalMs`, keeping the peak per window; a window also
 * measures each process's CPU time and the machine's, so a scenario shows who used the cores.
 */
export class ProcessSampler {
  constructor(intervalMs = 200) {
    this.intervalMs = intervalMs;
    this.tracked = new Map(); // name → pid
    this.window = null;
    this.timer = null;
  }

  track(name, pid) {
    this.tracked.set(name, pid);
  }

  begin(label) {
    const cpu = new Map();
    for (const [name, pid] of this.tracked) cpu.set(name, cpuSecondsOf(pid));
    this.window = { label, startedAt: process.hrtime.bigint(), peakKb: new Map(), cpu, machine: machineCpu() };
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  sample() {
    if (!this.window) return;
    for (const [name, pid] of this.tracked) {
      const memory = memoryOf(pid);
      if (!memory) continue;
      const peak = this.window.peakKb.get(name) ?? 0;
      if (memory.rssKb > peak) this.window.peakKb.set(name, memory.rssKb);
    }
  }

  /** Ends the window: per process, peak RSS in MB and CPU use in % of one core; the same for the machine. */
  end() {
    clearInterval(this.timer);
    this.sample();
    const { label, startedAt, peakKb, cpu, machine } = this.window;
    this.window = null;
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const machineNow = machineCpu();
    const processes = {};
    for (const [name, pid] of this.tracked) {
      const before = cpu.get(name);
      const after = cpuSecondsOf(pid);
      processes[name] = {
        peakRssMb: round((peakKb.get(name) ?? 0) / 1024, 1),
        cpuPercentOfCore: before === null || before === undefined || after === null ? null : round((100 * (after - before)) / seconds, 0),
      };
    }
    // In the same unit as the processes (100 = one core busy), so the rest is what untracked processes
    // (PostgreSQL, Redis, NATS, the kernel) used.
    const machineCpuPercentOfCore = round((100 * (machineNow.busy - machine.busy)) / seconds, 0);
    const tracked = Object.values(processes).reduce((sum, p) => sum + (p.cpuPercentOfCore ?? 0), 0);
    return {
      label,
      seconds: round(seconds, 1),
      processes,
      machineCpuPercentOfCore,
      untrackedCpuPercentOfCore: Math.max(0, machineCpuPercentOfCore - tracked),
    };
  }
}

/** Resolves once `url` answers 2xx; throws with the child's log tail when it exits or is not ready within ~30 s. */
export async function waitHttp(url, child) {
  for (let i = 0; i < 150; i++) {
    if (!child.alive()) throw new Error(`${child.name} exited; its log ends:\n${logTail(child)}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((res) => res.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} not ready; log of ${child.name}:\n${logTail(child)}`);
}

/**
 * A child of the hop and floor benchmarks, as their services run: on 127.0.0.1, logging warnings only, under the
 * production heap cap; its output in `<logs>/<logPrefix><name>.log`.
 */
export function benchChild({ root, logs, logPrefix = "", name, script, args = [], env = {} }) {
  return startChild({
    name,
    script: join(root, script),
    args,
    env: { HOST: "127.0.0.1", LOG_LEVEL: "warn", NODE_OPTIONS: "--max-old-space-size=96", ...env },
    cwd: root,
    logFile: join(logs, `${logPrefix}${name}.log`),
  });
}

/**
 * A gRPC server of this checkout's build (dist/) on 127.0.0.1:`port`, started as the services start theirs
 * (startRpcServer: health, metrics, the interceptors), logging warnings only. `transport`: the process's default
 * unless given.
 */
export async function startBenchRpcServer({ name, port, transport, routes }) {
  const { startRpcServer } = await import("../dist/services/common/rpc-server.js");
  const { HealthStatus } = await import("../dist/services/common/health.js");
  const { createLogger } = await import("../dist/services/common/logger.js");
  const { Metrics } = await import("../dist/services/common/metrics.js");
  return startRpcServer({
    name,
    host: "127.0.0.1",
    port: Number(port),
    transport,
    health: new HealthStatus(),
    logger: createLogger(name, "warn"),
    metrics: new Metrics({ processMetrics: false }),
    routes,
  });
}

/** The body of every POST the hop and floor benchmarks send: a PSBC call's size. */
const PSBC_SIZED_BODY = JSON.stringify({ type: "310001", request: "x".repeat(88), channel: "12" });

/**
 * One target loaded: `warmup` s not measured, then `duration` s on `connections` with the sampler's window around
 * them. Answers autocannon's result, that window, and the answered requests' count.
 */
export async function loadWindow(sampler, target, { connections, warmup, duration }) {
  const hit = (seconds) =>
    autocannon({
      url: target.url,
      connections,
      duration: seconds,
      requests: [{ method: "POST", path: target.path, headers: { "content-type": "application/json" }, body: PSBC_SIZED_BODY }],
    });
  if (warmup > 0) await hit(warmup);
  sampler.begin(target.name);
  const result = await hit(duration);
  return { result, window: sampler.end(), answered: result.requests.total };
}

export function round(value, digits) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
