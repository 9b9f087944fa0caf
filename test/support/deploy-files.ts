// What the deploy tests share besides the checker: where the repository and its deploy files are, YAML loading,
// and the helm/kubectl binaries (fetched by deploy/tools.sh, never by the tests: a plain `npm test` must not
// download 36 MB, so without them these tests are skipped, or fail when CI sets REQUIRE_DEPLOY_TOOLS=1).
import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, it } from "vitest";
import { parseAllDocuments } from "yaml";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const manifestsDir = path.join(repoRoot, "deploy", "k8s");
export const chartDir = path.join(repoRoot, "deploy", "helm", "rights-platform");

/** Every non-empty document of a multi-document YAML text; throws with the file name on a syntax error. */
export function parseYamlDocuments(text: string, source: string): unknown[] {
  const documents: unknown[] = [];
  for (const document of parseAllDocuments(text)) {
    const problems = [...document.errors, ...document.warnings];
    if (problems.length > 0) throw new Error(`${source}: ${problems.map((p) => p.message).join("; ")}`);
    const value: unknown = document.toJS();
    if (value !== null && value !== undefined) documents.push(value);
  }
  return documents;
}

export function readYamlFile(file: string): unknown[] {
  return parseYamlDocuments(readFileSync(file, "utf8"), path.relative(repoRoot, file));
}

export function readYamlObject(file: string): Record<string, unknown> {
  const [document, ...rest] = readYamlFile(file);
  if (typeof document !== "object" || document === null || Array.isArray(document) || rest.length > 0) {
    throw new Error(`${path.relative(repoRoot, file)}: expected one YAML mapping`);
  }
  return document as Record<string, unknown>;
}

/** The files deploy/k8s/kustomization.yaml lists under resources. */
export function listedManifestFiles(): string[] {
  const resources = readYamlObject(path.join(manifestsDir, "kustomization.yaml")).resources;
  if (!Array.isArray(resources) || !resources.every((r): r is string => typeof r === "string")) {
    throw new Error("deploy/k8s/kustomization.yaml: resources must be a list of file names");
  }
  return resources;
}

/** Every object of the plain manifests, in the kustomization's order. */
export function manifestObjects(): unknown[] {
  return listedManifestFiles().flatMap((file) => readYamlFile(path.join(manifestsDir, file)));
}

/** A deep copy: negative tests break copies, never the shared originals. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** The empty home of the helm and kubectl runs (see toolEnv), removed after each describeWithTools block. */
let helmHome: string | undefined;

export interface DeployTools {
  helm: string;
  kubectl: string;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** helm and kubectl from HELM_BIN / KUBECTL_BIN, else <repo>/.tools/bin; or why they are missing. */
export function locateDeployTools(): DeployTools | string {
  const helm = process.env.HELM_BIN || path.join(repoRoot, ".tools", "bin", "helm");
  const kubectl = process.env.KUBECTL_BIN || path.join(repoRoot, ".tools", "bin", "kubectl");
  const missing = [helm, kubectl].filter((file) => !executable(file));
  if (missing.length > 0) {
    const shown = missing.map((file) => (file.startsWith(repoRoot) ? path.relative(repoRoot, file) : file));
    return `no executable ${shown.join(" or ")} (HELM_BIN / KUBECTL_BIN override): run deploy/tools.sh`;
  }
  return { helm, kubectl };
}

/**
 * describe() for tests that run helm or kubectl. Without the binaries they are skipped with the reason, unless
 * REQUIRE_DEPLOY_TOOLS=1 (CI), where one failing test says to run deploy/tools.sh.
 */
export function describeWithTools(title: string, body: (tools: DeployTools) => void): void {
  const tools = locateDeployTools();
  if (typeof tools !== "string") {
    describe(title, () => {
      afterAll(() => {
        if (helmHome) rmSync(helmHome, { recursive: true, force: true });
        helmHome = undefined;
      });
      body(tools);
    });
  } else if (process.env.REQUIRE_DEPLOY_TOOLS === "1") {
    describe(title, () => {
      it("has helm and kubectl", () => {
        throw new Error(`REQUIRE_DEPLOY_TOOLS=1 but ${tools}`);
      });
    });
  } else {
    describe.skip(`${title} (skipped: ${tools})`, () => {
      it("needs helm and kubectl", () => undefined);
    });
  }
}

// helm keeps repositories, plugins and caches in the user's home: give it an empty one so that no local setup
// changes what the tests see; and a kubeconfig that does not exist, so that nothing can reach a cluster.
function toolEnv(): NodeJS.ProcessEnv {
  helmHome ??= mkdtempSync(path.join(tmpdir(), "helm-home-"));
  return {
    ...process.env,
    HELM_CACHE_HOME: path.join(helmHome, "cache"),
    HELM_CONFIG_HOME: path.join(helmHome, "config"),
    HELM_DATA_HOME: path.join(helmHome, "data"),
    KUBECONFIG: path.join(helmHome, "kubeconfig"),
  };
}

/** Runs a tool and returns its stdout; on failure throws with its stderr, which is what a reader needs. */
export function runTool(binary: string, args: readonly string[]): string {
  try {
    return execFileSync(binary, args, { cwd: repoRoot, encoding: "utf8", env: toolEnv(), maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${path.basename(binary)} ${args.join(" ")} failed:\n${failure.stderr ?? ""}${failure.stdout ?? ""}`);
  }
}
