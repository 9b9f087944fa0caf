// The image, checked without a Docker engine: the Dockerfile's shape (multi-stage, production dependencies only,
// numeric non-root user, main.js entry), every role the manifests start exists in main.ts, and the build
// context leaves out local state.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { summarizeComponents } from "../support/k8s-checks.js";
import { manifestObjects, repoRoot } from "../support/deploy-files.js";
import { services } from "../../services/platform/services.js";

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  name: string | undefined;
  from: string;
  instructions: Instruction[];
}

/** Dockerfile instructions grouped by stage, with continuation lines joined and comments dropped. */
function dockerStages(text: string): Stage[] {
  const lines: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && pending === "")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push(`${pending}${line}`.trim());
    pending = "";
  }
  if (pending.trim()) lines.push(pending.trim());
  const stages: Stage[] = [];
  for (const line of lines.filter(Boolean)) {
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === "FROM") {
      const [, image = "", name] = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(args) ?? [];
      stages.push({ name, from: image, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const dockerfile = (): Stage[] => dockerStages(readFileSync(path.join(repoRoot, "Dockerfile"), "utf8"));

const runs = (stage: Stage): string[] => stage.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
const npmInstalls = (stage: Stage): string[] => runs(stage).filter((r) => /\bnpm\s+(install|ci|i)\b/.test(r));

/** A stage whose node_modules hold production dependencies only: it installs with --omit=dev, or prunes after. */
function productionOnly(stage: Stage): boolean {
  const commands = runs(stage);
  const lastInstall = commands.findLastIndex((r) => /\bnpm\s+(install|ci|i)\b/.test(r));
  const lastPrune = commands.findLastIndex((r) => /\bnpm\s+prune\b.*--(omit=dev|production)/.test(r));
  if (lastInstall < 0) return false;
  return lastPrune > lastInstall || npmInstalls(stage).every((r) => /--omit=dev\b|--production\b/.test(r));
}

describe("Dockerfile", () => {
  it("is multi-stage, every base image pinned by tag or digest", () => {
    const stages = dockerfile();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) {
      const named = stages.some((s) => s.name === stage.from);
      if (!named) expect(stage.from, `FROM ${stage.from}`).toMatch(/^[^:@]+(:(?!latest$)[\w.-]+)?(@sha256:[0-9a-f]{64})?$/);
      if (!named) expect(stage.from, `FROM ${stage.from} has a tag or digest`).toMatch(/[:@]/);
    }
  });

  it("final stage: numeric non-root USER, production dependencies only, package.json, main.js entry", () => {
    const stages = dockerfile();
    const final = stages.at(-1);
    if (!final) throw new Error("no stage");
    const users = final.instructions.filter((i) => i.keyword === "USER");
    expect(users.length, "the final stage sets USER").toBeGreaterThan(0);
    const user = users.at(-1)?.args ?? "";
    expect(user, "USER is numeric uid[:gid]").toMatch(/^\d+(:\d+)?$/);
    expect(user.split(":").every((id) => Number(id) > 0), "USER is not root").toBe(true);

    // node_modules either installed here with --omit=dev, or copied from a stage that installed that way.
    for (const install of npmInstalls(final)) expect(install).toMatch(/--omit=dev\b/);
    const copies = final.instructions.filter((i) => i.keyword === "COPY");
    const modules = copies.filter((c) => /node_modules/.test(c.args));
    expect(modules.length + npmInstalls(final).length, "the final stage gets node_modules").toBeGreaterThan(0);
    for (const copy of modules) {
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      const source = stages.find((s) => s.name === from);
      expect(source, `COPY ${copy.args}: from a stage of this Dockerfile`).toBeDefined();
      if (source) expect(productionOnly(source), `stage ${from} installs with --omit=dev`).toBe(true);
    }
    // Nothing from a stage with dev dependencies may bring a whole tree (node_modules above, or the app root).
    for (const copy of copies.filter((c) => /--from=/.test(c.args))) {
      const sources = copy.args.replace(/--\S+/g, "").trim().split(/\s+/).slice(0, -1);
      for (const source of sources) expect(source, `COPY ${copy.args}`).not.toMatch(/^(\/app\/?|\.\/?|\/)$/);
    }
    expect(copies.some((c) => /\bpackage\.json\b/.test(c.args)), "package.json (\"type\": \"module\") is copied").toBe(true);

    const entrypoint = final.instructions.filter((i) => i.keyword === "ENTRYPOINT").at(-1);
    expect(entrypoint, "ENTRYPOINT").toBeDefined();
    let argv: unknown = entrypoint?.args; // shell form stays a string and fails the comparison below
    try {
      argv = JSON.parse(entrypoint?.args ?? "null");
    } catch {
      // not exec form
    }
    expect(argv, "exec-form ENTRYPOINT, so node is PID 1 and receives SIGTERM").toEqual(["node", "dist/services/platform/main.js"]);
  });

  it("every role the manifests start is one main.ts accepts", () => {
    // main.ts's roles: the keys of its `roles` object, one per service of the list (named after it), plus roles it
    // special-cases by name (`role !== "migrate"`).
    const main = readFileSync(path.join(repoRoot, "services", "platform", "main.ts"), "utf8");
    const block = /\bconst roles\b[^{]*?=\s*\{([\s\S]*?)\n\};/.exec(main)?.[1] ?? "";
    const roles = [
      ...[...block.matchAll(/^ {2}(?:async\s+)?([A-Za-z_]\w*)\s*(?:\(|:)/gm)].map((m) => m[1]),
      ...[...main.matchAll(/\brole\s*[!=]==?\s*"(\w+)"/g)].map((m) => m[1]),
      ...services.map((service) => service.name),
    ];
    expect(roles.length, "main.ts declares a roles object").toBeGreaterThan(0);
    const started = Object.values(summarizeComponents(manifestObjects())).flatMap((c) => c.containers.map((container) => container.args[0]));
    expect(started.length).toBeGreaterThan(0);
    for (const role of started) expect(roles, `role ${String(role)}`).toContain(role);
  });
});

describe(".dockerignore", () => {
  it("keeps node_modules, dist, .git and .tools out of the build context", () => {
    const patterns = readFileSync(path.join(repoRoot, ".dockerignore"), "utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("#"))
      .map((line) => line.replace(/^\/|\/$/g, "").replace(/^\*\*\//, ""));
    for (const entry of ["node_modules", "dist", ".git", ".tools"]) expect(patterns, entry).toContain(entry);
  });
});
