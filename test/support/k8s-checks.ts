// Offline checks of Kubernetes objects (plain manifests and rendered Helm output alike), returning problems as
// strings "<Kind>/<name>: <path>: <what>" instead of throwing, so a test can assert both "no problems" and "this
// broken copy has exactly this problem". Three layers:
//  1. schema: kubernetes-models' validators (types, required fields, formats) for each apiVersion/kind;
//  2. unknown fields: kubernetes-models accepts them, the API server (strict field validation) and kubectl do
//     not, and a misspelt field (readOnlyRootFileSystem) silently weakens a pod. Each object becomes an object
//     literal typed with kubernetes-models' own interface in a generated TypeScript source; the compiler gives
//     every nested literal its contextual type and each key is looked up there. (tsc's own excess-property
//     diagnostics stop at the first error of a literal, so they would hide further unknown fields.)
//  3. policy: the deployment spec's rules (resources, probes, security context, PDB/HPA/Service per Deployment,
//     deny-by-default NetworkPolicy, secrets only by secretKeyRef).
// Also what two bundles (plain manifests, helm render) must declare alike: summarizeComponents() per component and
// networkReachability(), the calls the NetworkPolicies allow.
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IProbe } from "kubernetes-models/v1/Probe";
import type { IService } from "kubernetes-models/v1/Service";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

type Obj = Record<string, unknown>;
type LabelSelector = NonNullable<INetworkPolicy["spec"]>["podSelector"];
type Labels = Record<string, string>;

export function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** "Deployment/gateway", the prefix of every problem about that object. */
export function objectLabel(object: unknown): string {
  if (!isObj(object)) return "<not an object>";
  const metadata = isObj(object.metadata) ? object.metadata : {};
  return `${String(object.kind ?? "<no kind>")}/${String(metadata.name ?? "<no name>")}`;
}

function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  if (base === "") return segment.startsWith('"') ? `[${segment}]` : segment;
  return segment.startsWith('"') ? `${base}[${segment}]` : `${base}.${segment}`;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Schema validation with kubernetes-models.

interface ValidatingModel {
  validate(): void;
}
type ModelClass = new (data: unknown) => ValidatingModel;

/** The model packages of the custom resources the chart may render, by API group. */
const CUSTOM_RESOURCE_MODELS: Record<string, string> = { "monitoring.coreos.com": "@kubernetes-models/prometheus-operator" };

/**
 * kubernetes-models' module for an apiVersion/kind ("apps/v1" + "Deployment" -> "kubernetes-models/apps/v1/Deployment";
 * a custom resource's from its group's package).
 */
function modelModule(apiVersion: string, kind: string): string {
  const custom = CUSTOM_RESOURCE_MODELS[apiVersion.split("/")[0] ?? ""];
  return `${custom ?? "kubernetes-models"}/${apiVersion}/${kind}`;
}

const modelClasses = new Map<string, Promise<ModelClass | undefined>>();

function loadModelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const key = `${apiVersion}/${kind}`;
  let loaded = modelClasses.get(key);
  if (!loaded) {
    loaded = import(modelModule(apiVersion, kind)).then(
      (module: Record<string, unknown>) => {
        const candidate = module[kind];
        return typeof candidate === "function" ? (candidate as ModelClass) : undefined;
      },
      () => undefined,
    );
    modelClasses.set(key, loaded);
  }
  return loaded;
}

function hasTypeMeta(object: unknown): object is Obj & { apiVersion: string; kind: string } {
  return (
    isObj(object) &&
    typeof object.apiVersion === "string" &&
    /^[a-z0-9.-]*\/?v\d+[a-z0-9]*$/.test(object.apiVersion) &&
    typeof object.kind === "string" &&
    /^[A-Z][A-Za-z0-9]*$/.test(object.kind)
  );
}

interface ErrorWithDetails {
  errors?: Array<{ instancePath?: string; message?: string }>;
}

function instancePathToPath(instancePath: string): string {
  let result = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const segment = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    result = joinPath(result, /^\d+$/.test(segment) ? Number(segment) : segment);
  }
  return result;
}

/** Problems found by kubernetes-models' validators; also reports objects of an unknown apiVersion/kind. */
export async function schemaProblems(objects: readonly unknown[]): Promise<string[]> {
  const problems: string[] = [];
  for (const object of objects) {
    const label = objectLabel(object);
    if (!hasTypeMeta(object)) {
      problems.push(`${label}: apiVersion/kind: missing or malformed`);
      continue;
    }
    const model = await loadModelClass(object.apiVersion, object.kind);
    if (!model) {
      problems.push(`${label}: apiVersion/kind: ${object.apiVersion} ${object.kind} is not a known Kubernetes kind`);
      continue;
    }
    if (!isObj(object.metadata) || typeof object.metadata.name !== "string" || object.metadata.name === "") {
      problems.push(`${label}: metadata.name: missing`);
    }
    try {
      new model(object).validate();
    } catch (error) {
      const details = (error as ErrorWithDetails).errors;
      if (Array.isArray(details) && details.length > 0) {
        for (const detail of details) {
          const where = instancePathToPath(detail.instancePath ?? "") || "<root>";
          problems.push(`${label}: ${where}: ${detail.message ?? "invalid"}`);
        }
      } else {
        problems.push(`${label}: <root>: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Unknown fields, by the TypeScript compiler against kubernetes-models' interfaces.

// The generated source lives (virtually, never written) inside the repository so that module resolution finds
// node_modules/kubernetes-models and package.json's "type": "module" makes it an ES module, as NodeNext requires.
const strictSourcePath = path.join(repoRoot, "test", "support", "__k8s_strict_fields__.ts");
const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2022.d.ts"],
  types: [],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
};
// Declaration files parsed once per process: every check after the first is then much faster.
const sourceFileCache = new Map<string, ts.SourceFile>();
let previousProgram: ts.Program | undefined;

function compile(sourceText: string): ts.Program {
  const host = ts.createCompilerHost(compilerOptions, true);
  const baseGetSourceFile = host.getSourceFile.bind(host);
  const baseFileExists = host.fileExists.bind(host);
  const baseReadFile = host.readFile.bind(host);
  host.fileExists = (fileName) => fileName === strictSourcePath || baseFileExists(fileName);
  host.readFile = (fileName) => (fileName === strictSourcePath ? sourceText : baseReadFile(fileName));
  host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
    if (fileName === strictSourcePath) return ts.createSourceFile(fileName, sourceText, languageVersionOrOptions, true);
    const cached = sourceFileCache.get(fileName);
    if (cached) return cached;
    const created = baseGetSourceFile(fileName, languageVersionOrOptions, onError, shouldCreate);
    if (created) sourceFileCache.set(fileName, created);
    return created;
  };
  const program = ts.createProgram({ rootNames: [strictSourcePath], options: compilerOptions, host, oldProgram: previousProgram });
  previousProgram = program;
  return program;
}

/** How a key is looked up in a literal's contextual type: "any key" (maps, untyped), or the type's own properties. */
function fieldLookup(checker: ts.TypeChecker, contextual: ts.Type | undefined): { accepts(key: string): boolean; typeName: string } {
  const anyKey = { accepts: () => true, typeName: "" };
  if (!contextual) return anyKey;
  const type = checker.getNonNullableType(contextual);
  const members = type.isUnion() ? type.types : [type];
  if (members.some((member) => (member.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !== 0)) return anyKey;
  const objectMembers = members.filter((member) => (member.flags & ts.TypeFlags.Object) !== 0);
  // Not an object type at all (an object where a string belongs): a type error the schema layer reports.
  if (objectMembers.length === 0) return anyKey;
  if (objectMembers.some((member) => checker.getIndexInfoOfType(member, ts.IndexKind.String) !== undefined)) return anyKey;
  return {
    accepts: (key) => objectMembers.some((member) => checker.getPropertyOfType(member, key) !== undefined),
    typeName: objectMembers.map((member) => checker.typeToString(member)).join(" | "),
  };
}

/** Fields that kubernetes-models' interfaces (the Kubernetes OpenAPI schema) do not have. */
export async function unknownFieldProblems(objects: readonly unknown[]): Promise<string[]> {
  const problems: string[] = [];
  const imports = new Map<string, string>(); // module -> alias
  const declarations: string[] = [];
  const checked: Array<{ index: number; label: string }> = [];
  for (const [index, object] of objects.entries()) {
    // Objects without a known model were already reported by the schema layer.
    if (!hasTypeMeta(object) || !(await loadModelClass(object.apiVersion, object.kind))) continue;
    const module = modelModule(object.apiVersion, object.kind);
    let alias = imports.get(module);
    if (!alias) {
      alias = `T${imports.size}`;
      imports.set(module, alias);
    }
    declarations.push(`export const o${index}: ${alias} = ${JSON.stringify(object)};`);
    checked.push({ index, label: objectLabel(object) });
  }
  if (checked.length === 0) return problems;
  const importLines = [...imports].map(([module, alias]) => {
    const kind = module.slice(module.lastIndexOf("/") + 1);
    return `import type { I${kind} as ${alias} } from ${JSON.stringify(module)};`;
  });
  const program = compile([...importLines, ...declarations].join("\n"));
  const source = program.getSourceFile(strictSourcePath);
  if (!source) throw new Error("the generated strict-field source was not compiled");
  // An import that does not resolve would turn every object into `any` and hide every unknown field.
  for (const diagnostic of program.getSemanticDiagnostics(source)) {
    const line = diagnostic.start === undefined ? 0 : source.getLineAndCharacterOfPosition(diagnostic.start).line;
    if (line < importLines.length) {
      problems.push(`<strict field check>: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`);
    }
  }
  const checker = program.getTypeChecker();
  const labels = new Map(checked.map(({ index, label }) => [`o${index}`, label]));
  const walk = (node: ts.Expression, where: string, label: string): void => {
    if (ts.isObjectLiteralExpression(node)) {
      const lookup = fieldLookup(checker, checker.getContextualType(node));
      for (const property of node.properties) {
        if (!ts.isPropertyAssignment(property) || !ts.isStringLiteral(property.name)) continue;
        const key = property.name.text;
        const at = joinPath(where, key);
        if (!lookup.accepts(key)) {
          problems.push(`${label}: ${at}: unknown field (not in ${lookup.typeName})`);
          continue;
        }
        walk(property.initializer, at, label);
      }
    } else if (ts.isArrayLiteralExpression(node)) {
      node.elements.forEach((element, i) => walk(element, joinPath(where, i), label));
    }
  };
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      const label = ts.isIdentifier(declaration.name) ? labels.get(declaration.name.text) : undefined;
      if (!label || !declaration.initializer) continue;
      // Guard against a check that silently checks nothing: the object must have its kind's interface as type.
      if (fieldLookup(checker, checker.getContextualType(declaration.initializer)).typeName === "") {
        problems.push(`${label}: <root>: no kubernetes-models interface to check its fields against`);
        continue;
      }
      walk(declaration.initializer, "", label);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Policy.

/** Env names that carry credentials or endpoints with credentials: only ever from a secretKeyRef. */
/** The variable names that hold credentials: only ever from a secretKeyRef. */
export const SECRET_ENV = /^(DATABASE_URL|REDIS_URL|NATS_URL)$|_SECRET$|_APP_ID$|_AES_|_TOKEN$|_KEK(_|$)/;
/** A literal URL with a password in it (scheme://user:password@host). */
const CREDENTIAL_URL = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/i;

type Workload = IDeployment | IJob;

function selectorMatches(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const requirement of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, requirement.key);
    const value = labels[requirement.key];
    const values = requirement.values ?? [];
    const ok =
      requirement.operator === "In" ? has && value !== undefined && values.includes(value)
      : requirement.operator === "NotIn" ? !has || value === undefined || !values.includes(value)
      : requirement.operator === "Exists" ? has
      : requirement.operator === "DoesNotExist" ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}

/** A Service selector is a plain map; empty selects nothing (a Service without selector has manual endpoints). */
function mapSelects(selector: Labels | undefined, labels: Labels): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

function podLabels(workload: Workload): Labels {
  return workload.spec?.template.metadata?.labels ?? {};
}

function containerProblems(container: IContainer, where: string, pod: IPodSpec): string[] {
  const problems: string[] = [];
  const resources = container.resources;
  for (const bound of ["requests", "limits"] as const) {
    for (const resource of ["cpu", "memory"] as const) {
      const quantity = resources?.[bound]?.[resource];
      if (quantity === undefined || quantity === "") problems.push(`${where}.resources.${bound}.${resource}: missing`);
    }
  }

  const sc = container.securityContext;
  const scPath = `${where}.securityContext`;
  if (sc?.allowPrivilegeEscalation !== false) problems.push(`${scPath}.allowPrivilegeEscalation: must be false`);
  if (sc?.readOnlyRootFilesystem !== true) problems.push(`${scPath}.readOnlyRootFilesystem: must be true`);
  if (sc?.privileged === true) problems.push(`${scPath}.privileged: must not be true`);
  if (!(sc?.capabilities?.drop ?? []).includes("ALL")) problems.push(`${scPath}.capabilities.drop: must include ALL`);
  if ((sc?.capabilities?.add ?? []).length > 0) problems.push(`${scPath}.capabilities.add: must be empty`);
  // The container's own settings override the pod's: it may repeat them, never weaken them.
  const podSc = pod.securityContext;
  const runAsNonRoot = sc?.runAsNonRoot ?? podSc?.runAsNonRoot;
  if (runAsNonRoot !== true) {
    problems.push(`${sc?.runAsNonRoot === undefined ? "spec.template.spec.securityContext" : scPath}.runAsNonRoot: must be true`);
  }
  if (sc?.runAsUser !== undefined && !(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0)) {
    problems.push(`${scPath}.runAsUser: must be a numeric non-root user`);
  }
  if (sc?.runAsGroup === 0) problems.push(`${scPath}.runAsGroup: must not be the root group`);
  const seccomp = sc?.seccompProfile?.type;
  if (seccomp !== undefined && seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
    problems.push(`${scPath}.seccompProfile.type: must be RuntimeDefault (or Localhost)`);
  }
  for (const [i, env] of (container.env ?? []).entries()) {
    const envPath = `${where}.env[${i}]`;
    if (SECRET_ENV.test(env.name)) {
      if (env.value !== undefined) problems.push(`${envPath}.value: ${env.name} must come from a secretKeyRef, not a literal`);
      else if (!env.valueFrom?.secretKeyRef) problems.push(`${envPath}.valueFrom: ${env.name} must come from a secretKeyRef`);
    } else if (env.value !== undefined && CREDENTIAL_URL.test(env.value)) {
      problems.push(`${envPath}.value: ${env.name} holds a URL with a password: use a secretKeyRef`);
    }
  }
  return problems;
}

function probeProblems(container: IContainer, where: string, kind: string): string[] {
  if (kind !== "Deployment") return [];
  const problems: string[] = [];
  const ports = container.ports ?? [];
  const grpcPort = ports.find((port) => port.name === "grpc");
  const httpPort = ports.find((port) => port.name === "http");
  for (const probeName of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
    const probe: IProbe | undefined = container[probeName];
    const at = `${where}.${probeName}`;
    if (!probe) {
      problems.push(`${at}: missing`);
      continue;
    }
    if (grpcPort) {
      // A gRPC server is probed natively; liveness/startup ask the "liveness" service (SERVING while the process
      // answers) so a pod waiting for its database is not restarted, readiness asks the overall health ("").
      if (!probe.grpc) problems.push(`${at}: must be a grpc probe (the container serves gRPC)`);
      else {
        if (probe.grpc.port !== grpcPort.containerPort) problems.push(`${at}.grpc.port: must be the grpc port ${grpcPort.containerPort}`);
        const service = probe.grpc.service ?? "";
        if (probeName === "readinessProbe" && service !== "") problems.push(`${at}.grpc.service: readiness must ask the overall health ("")`);
        if (probeName !== "readinessProbe" && service !== "liveness") problems.push(`${at}.grpc.service: must be "liveness"`);
      }
    } else if (httpPort) {
      if (!probe.httpGet) problems.push(`${at}: must be an httpGet probe (the container serves HTTP)`);
      else if (probe.httpGet.port !== "http" && probe.httpGet.port !== httpPort.containerPort) {
        problems.push(`${at}.httpGet.port: must be the http port`);
      }
    } else if (!probe.grpc && !probe.httpGet && !probe.tcpSocket && !probe.exec) {
      problems.push(`${at}: has no handler`);
    }
  }
  return problems;
}

function workloadProblems(workload: Workload, all: readonly KnownObject[]): string[] {
  const problems: string[] = [];
  const base = "spec.template.spec";
  const pod = workload.spec?.template.spec;
  if (!pod) return [`${base}: missing`];
  if (pod.automountServiceAccountToken !== false) problems.push(`${base}.automountServiceAccountToken: must be false`);
  for (const field of ["hostNetwork", "hostPID", "hostIPC"] as const) {
    if (pod[field] === true) problems.push(`${base}.${field}: must not be true`);
  }
  const podSc = pod.securityContext;
  if (podSc?.runAsNonRoot !== true) problems.push(`${base}.securityContext.runAsNonRoot: must be true`);
  if (!(Number.isInteger(podSc?.runAsUser) && (podSc?.runAsUser ?? 0) > 0)) {
    problems.push(`${base}.securityContext.runAsUser: must be a numeric non-root user`);
  }
  if (podSc?.runAsGroup === 0) problems.push(`${base}.securityContext.runAsGroup: must not be the root group`);
  if (podSc?.seccompProfile?.type !== "RuntimeDefault" && podSc?.seccompProfile?.type !== "Localhost") {
    problems.push(`${base}.securityContext.seccompProfile.type: must be RuntimeDefault`);
  }
  // Pod-level problems first, then the containers': a container that inherits a weak pod setting reports the
  // pod's problem again, kept once.
  const containers = [
    ...pod.containers.map((container, i) => ({ container, where: `${base}.containers[${i}]`, init: false })),
    ...(pod.initContainers ?? []).map((container, i) => ({ container, where: `${base}.initContainers[${i}]`, init: true })),
  ];
  for (const { container, where, init } of containers) {
    for (const problem of containerProblems(container, where, pod)) {
      if (!problems.includes(problem)) problems.push(problem);
    }
    if (!init) problems.push(...probeProblems(container, where, workload.kind));
  }

  const labels = podLabels(workload);
  const denyAll = all.some(
    (o) =>
      o.kind === "NetworkPolicy" &&
      selectorMatches(o.spec?.podSelector, labels) &&
      (["Ingress", "Egress"] as const).every((type) => o.spec?.policyTypes?.includes(type)) &&
      (o.spec?.ingress ?? []).length === 0 &&
      (o.spec?.egress ?? []).length === 0,
  );
  if (!denyAll) problems.push(`spec.template.metadata.labels: no deny-by-default NetworkPolicy (Ingress and Egress, no rules) selects these pods`);

  if (workload.kind !== "Deployment") return problems;
  const name = workload.metadata?.name;
  if (!all.some((o) => o.kind === "PodDisruptionBudget" && selectorMatches(o.spec?.selector, labels))) {
    problems.push(`spec.template.metadata.labels: no PodDisruptionBudget selects these pods`);
  }
  if (
    !all.some(
      (o) =>
        o.kind === "HorizontalPodAutoscaler" &&
        o.spec?.scaleTargetRef.kind === "Deployment" &&
        o.spec.scaleTargetRef.name === name &&
        o.spec.scaleTargetRef.apiVersion === "apps/v1",
    )
  ) {
    problems.push(`metadata.name: no HorizontalPodAutoscaler targets this Deployment`);
  } else if (workload.spec?.replicas !== undefined) {
    // Each apply would set the count back, under the autoscaler that owns it (Kubernetes' own advice).
    problems.push(`spec.replicas: must be left out: a HorizontalPodAutoscaler owns the count`);
  }
  const services = all.filter((o): o is IService => o.kind === "Service" && mapSelects(o.spec?.selector, labels));
  if (services.length === 0) problems.push(`spec.template.metadata.labels: no Service selects these pods`);
  const containerPorts = pod.containers.flatMap((container) => container.ports ?? []);
  for (const service of services) {
    for (const [i, port] of (service.spec?.ports ?? []).entries()) {
      const at = `(${objectLabel(service)}) spec.ports[${i}]`;
      const target = port.targetPort ?? port.port;
      const containerPort = containerPorts.find((cp) => (typeof target === "string" ? cp.name === target : cp.containerPort === target));
      if (!port.name) problems.push(`${at}.name: missing (ports are named)`);
      if (!containerPort) problems.push(`${at}.targetPort: ${String(target)} is not a container port`);
      else if (port.name && containerPort.name !== port.name) {
        problems.push(`${at}.name: "${port.name}" targets container port "${containerPort.name ?? containerPort.containerPort}"`);
      }
    }
  }
  for (const cp of containerPorts) {
    if (!cp.name) {
      problems.push(`${base}.containers: port ${cp.containerPort} has no name`);
      continue;
    }
    const exposed = services.some((service) =>
      (service.spec?.ports ?? []).some((port) => (port.targetPort ?? port.port) === cp.name || (port.targetPort ?? port.port) === cp.containerPort),
    );
    if (services.length > 0 && !exposed) problems.push(`${base}.containers: port "${cp.name}" is not exposed by its Service`);
  }
  return problems;
}

type KnownObject =
  | IDeployment
  | IJob
  | IService
  | IServiceAccount
  | IConfigMap
  | IPodDisruptionBudget
  | IHorizontalPodAutoscaler
  | INetworkPolicy
  | { apiVersion: string; kind: "Secret"; metadata?: { name?: string } }
  | { apiVersion: string; kind: "Other"; metadata?: { name?: string } };

const typedKinds: Record<string, string> = {
  Deployment: "apps/v1",
  Job: "batch/v1",
  Service: "v1",
  ServiceAccount: "v1",
  ConfigMap: "v1",
  Secret: "v1",
  PodDisruptionBudget: "policy/v1",
  HorizontalPodAutoscaler: "autoscaling/v2",
  NetworkPolicy: "networking.k8s.io/v1",
};

/**
 * The policy's view of already schema-valid objects. Kinds it has rules for must have the apiVersion those rules are
 * written against (e.g. autoscaling/v2, not v1); other kinds pass through untouched.
 */
function asKnown(object: Obj & { apiVersion: string; kind: string }): KnownObject | string {
  const expected = typedKinds[object.kind];
  if (expected === undefined) return { apiVersion: object.apiVersion, kind: "Other" };
  if (object.apiVersion !== expected) return `apiVersion: ${object.kind} must be ${expected} (the policy checks that version)`;
  return object as unknown as KnownObject;
}

/** The deployment spec's rules over a complete set of objects (one bundle: manifests or one helm render). */
function policyProblems(objects: readonly unknown[]): string[] {
  const problems: string[] = [];
  const known: KnownObject[] = [];
  for (const object of objects) {
    if (!hasTypeMeta(object)) continue;
    const view = asKnown(object);
    if (typeof view === "string") problems.push(`${objectLabel(object)}: ${view}`);
    else known.push(view);
  }
  for (const object of known) {
    const label = objectLabel(object);
    const add = (problem: string): void => {
      problems.push(`${label}: ${problem}`);
    };
    switch (object.kind) {
      case "Deployment":
      case "Job":
        workloadProblems(object, known).forEach(add);
        break;
      case "ServiceAccount":
        if (object.automountServiceAccountToken !== false) add("automountServiceAccountToken: must be false");
        break;
      case "Secret":
        add("kind: Secret objects do not belong in the repository (reference SRE-created Secrets by secretKeyRef)");
        break;
      case "ConfigMap":
        for (const [key, value] of Object.entries(object.data ?? {})) {
          if (SECRET_ENV.test(key)) add(`${joinPath("data", key)}: secret-like key in a ConfigMap: use a Secret`);
          else if (CREDENTIAL_URL.test(value)) add(`${joinPath("data", key)}: URL with a password in a ConfigMap: use a Secret`);
        }
        break;
      default:
        break;
    }
  }
  return problems;
}

/** Every problem of a bundle of objects: schema, unknown fields, policy. Empty means it passes. */
export async function checkObjects(objects: readonly unknown[]): Promise<string[]> {
  const schema = await schemaProblems(objects);
  const unknown = await unknownFieldProblems(objects);
  // Policy rules read objects through kubernetes-models' types: only trust those the schema accepted.
  const invalid = new Set(schema.map((problem) => problem.slice(0, problem.indexOf(": "))));
  const valid = objects.filter((object) => !invalid.has(objectLabel(object)));
  return [...schema, ...unknown, ...policyProblems(valid)];
}

// ---------------------------------------------------------------------------------------------------------------
// What two bundles (plain manifests, helm render) must declare alike, keyed by app.kubernetes.io/name.

export interface ComponentSummary {
  kind: string;
  containers: Array<{
    args: string[];
    ports: Array<{ name: string | undefined; containerPort: number; protocol: string }>;
    env: string[];
    probes: Pick<IContainer, "startupProbe" | "livenessProbe" | "readinessProbe">;
    resources: IContainer["resources"];
    securityContext: IContainer["securityContext"];
    volumeMounts: IContainer["volumeMounts"];
  }>;
  podSecurityContext: IPodSpec["securityContext"];
  servicePorts: Array<{ name: string | undefined; port: number; targetPort: number | string | undefined; protocol: string; appProtocol: string | undefined }>;
  /** How it rolls out, scales and stops (selectors left out: Helm adds its instance label to them). */
  rollout: {
    strategy: NonNullable<IDeployment["spec"]>["strategy"];
    terminationGracePeriodSeconds: number | undefined;
    restartPolicy: string | undefined;
    volumes: IPodSpec["volumes"];
    topologySpread: Array<{ maxSkew: number; topologyKey: string; whenUnsatisfiable: string }>;
    prometheus: Labels;
    job: { backoffLimit?: number; activeDeadlineSeconds?: number; ttlSecondsAfterFinished?: number } | undefined;
    autoscaling: Array<{ minReplicas?: number; maxReplicas: number; metrics: unknown }>;
    disruptionBudget: Array<{ minAvailable?: number | string; maxUnavailable?: number | string }>;
  };
}

export const NAME_LABEL = "app.kubernetes.io/name";

function knownObjects(objects: readonly unknown[]): KnownObject[] {
  return objects.filter(hasTypeMeta).map(asKnown).filter((o): o is KnownObject => typeof o !== "string");
}

/** What each component (Deployment or Job, by its app.kubernetes.io/name label) declares. */
export function summarizeComponents(objects: readonly unknown[]): Record<string, ComponentSummary> {
  const known = knownObjects(objects);
  const summary: Record<string, ComponentSummary> = {};
  for (const object of known) {
    if (object.kind !== "Deployment" && object.kind !== "Job") continue;
    const labels = podLabels(object);
    const name = object.metadata?.labels?.[NAME_LABEL] ?? labels[NAME_LABEL];
    const pod = object.spec?.template.spec;
    if (!name || !pod) continue;
    const services = known.filter((o): o is IService => o.kind === "Service" && mapSelects(o.spec?.selector, labels));
    const annotations = object.spec?.template.metadata?.annotations ?? {};
    summary[name] = {
      kind: object.kind,
      containers: pod.containers.map((c) => ({
        args: c.args ?? [],
        ports: (c.ports ?? []).map((p) => ({ name: p.name, containerPort: p.containerPort, protocol: p.protocol ?? "TCP" })),
        env: (c.env ?? []).map((e) => e.name).sort(),
        probes: { startupProbe: c.startupProbe, livenessProbe: c.livenessProbe, readinessProbe: c.readinessProbe },
        resources: c.resources,
        securityContext: c.securityContext,
        volumeMounts: c.volumeMounts,
      })),
      podSecurityContext: pod.securityContext,
      servicePorts: services
        .flatMap((s) => s.spec?.ports ?? [])
        .map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol ?? "TCP", appProtocol: p.appProtocol }))
        .sort((a, b) => a.port - b.port),
      rollout: {
        strategy: object.kind === "Deployment" ? object.spec?.strategy : undefined,
        terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds,
        restartPolicy: pod.restartPolicy,
        volumes: pod.volumes,
        topologySpread: (pod.topologySpreadConstraints ?? []).map((t) => ({ maxSkew: t.maxSkew, topologyKey: t.topologyKey, whenUnsatisfiable: t.whenUnsatisfiable })),
        prometheus: Object.fromEntries(Object.entries(annotations).filter(([key]) => key.startsWith("prometheus.io/"))),
        job:
          object.kind === "Job"
            ? { backoffLimit: object.spec?.backoffLimit, activeDeadlineSeconds: object.spec?.activeDeadlineSeconds, ttlSecondsAfterFinished: object.spec?.ttlSecondsAfterFinished }
            : undefined,
        autoscaling: known
          .filter((o): o is IHorizontalPodAutoscaler => o.kind === "HorizontalPodAutoscaler" && o.spec?.scaleTargetRef.name === object.metadata?.name && o.spec?.scaleTargetRef.kind === object.kind)
          .map((o) => ({ minReplicas: o.spec?.minReplicas, maxReplicas: o.spec?.maxReplicas ?? 0, metrics: o.spec?.metrics })),
        disruptionBudget: known
          .filter((o): o is IPodDisruptionBudget => o.kind === "PodDisruptionBudget" && selectorMatches(o.spec?.selector, labels))
          .map((o) => ({ minAvailable: o.spec?.minAvailable, maxUnavailable: o.spec?.maxUnavailable })),
      },
    };
  }
  return summary;
}

// ---------------------------------------------------------------------------------------------------------------
// Who may talk to whom under the NetworkPolicies, as sorted lines, so that a test can compare them with the
// design and the chart with the plain manifests. All workloads are taken to share one namespace (as deployed).
//   "gateway -> order:grpc"                      pod to pod: the source's egress and the target's ingress allow it
//   "anywhere -> gateway:http"                   ingress from any source (other namespaces, the ingress controller)
//   "namespace {…:monitoring} -> order:metrics"  ingress from pods of the namespaces a namespaceSelector picks
//   "order -> anywhere:5432/TCP"                 egress to any address on that port (ipBlock rules name the CIDR)
//   "order -> namespace {…:kube-system} pods {k8s-app:kube-dns}:53/UDP"

type NetworkPolicyRule = { peers: NonNullable<NonNullable<INetworkPolicy["spec"]>["ingress"]>[number]["from"]; ports: NonNullable<NonNullable<INetworkPolicy["spec"]>["ingress"]>[number]["ports"] };
type Peer = NonNullable<NetworkPolicyRule["peers"]>[number];
type PolicyPort = NonNullable<NetworkPolicyRule["ports"]>[number];

function selectorText(selector: LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}:${v}`);
  for (const e of selector?.matchExpressions ?? []) parts.push(`${e.key} ${e.operator} ${(e.values ?? []).join("|")}`);
  return `{${parts.sort().join(",")}}`;
}

function outsidePeerText(peer: Peer): string | undefined {
  if (peer.ipBlock) return `cidr ${peer.ipBlock.cidr}${peer.ipBlock.except?.length ? ` except ${peer.ipBlock.except.join(",")}` : ""}`;
  if (peer.namespaceSelector) return `namespace ${selectorText(peer.namespaceSelector)}${peer.podSelector ? ` pods ${selectorText(peer.podSelector)}` : ""}`;
  return undefined; // a bare podSelector: pods of this namespace, covered pod to pod
}

function portText(port: PolicyPort): string {
  return `${String(port.port ?? "*")}${port.endPort ? `-${port.endPort}` : ""}/${port.protocol ?? "TCP"}`;
}

export function networkReachability(objects: readonly unknown[]): string[] {
  const known = knownObjects(objects);
  const policies = known.filter((o): o is INetworkPolicy => o.kind === "NetworkPolicy");
  const components = known
    .filter((o): o is Workload => o.kind === "Deployment" || o.kind === "Job")
    .map((w) => ({
      name: podLabels(w)[NAME_LABEL] ?? objectLabel(w),
      labels: podLabels(w),
      ports: (w.spec?.template.spec?.containers ?? []).flatMap((c) => c.ports ?? []),
    }));
  const rules = (labels: Labels, direction: "Ingress" | "Egress"): NetworkPolicyRule[] | undefined => {
    const selecting = policies.filter((p) => selectorMatches(p.spec?.podSelector, labels) && (p.spec?.policyTypes ?? ["Ingress"]).includes(direction));
    if (selecting.length === 0) return undefined; // not isolated in that direction: everything allowed
    return selecting.flatMap((p) =>
      direction === "Ingress"
        ? (p.spec?.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))
        : (p.spec?.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })),
    );
  };
  const portAllows = (ports: PolicyPort[] | undefined, target: { name?: string; containerPort: number; protocol?: string }): boolean =>
    !ports ||
    ports.length === 0 ||
    ports.some(
      (p) =>
        (p.protocol ?? "TCP") === (target.protocol ?? "TCP") &&
        (p.port === undefined ||
          p.port === target.name ||
          (typeof p.port === "number" && target.containerPort >= p.port && target.containerPort <= (p.endPort ?? p.port))),
    );
  const podPeerAllows = (peers: Peer[] | undefined, labels: Labels): boolean =>
    !peers || peers.length === 0 || peers.some((peer) => !peer.ipBlock && !peer.namespaceSelector && selectorMatches(peer.podSelector, labels));

  const lines = new Set<string>();
  for (const target of components) {
    const ingress = rules(target.labels, "Ingress");
    for (const port of target.ports) {
      const at = `${target.name}:${port.name ?? port.containerPort}`;
      const allowing = ingress?.filter((rule) => portAllows(rule.ports, port));
      if (!allowing || allowing.some((rule) => !rule.peers || rule.peers.length === 0)) {
        lines.add(`anywhere -> ${at}`);
        continue;
      }
      for (const rule of allowing) {
        for (const peer of rule.peers ?? []) {
          const outside = outsidePeerText(peer);
          if (outside) lines.add(`${outside} -> ${at}`);
        }
      }
    }
  }
  for (const source of components) {
    const egress = rules(source.labels, "Egress");
    for (const target of components) {
      const ingress = rules(target.labels, "Ingress");
      for (const port of target.ports) {
        const out = !egress || egress.some((rule) => portAllows(rule.ports, port) && podPeerAllows(rule.peers, target.labels));
        const into = !ingress || ingress.some((rule) => portAllows(rule.ports, port) && podPeerAllows(rule.peers, source.labels));
        if (out && into) lines.add(`${source.name} -> ${target.name}:${port.name ?? port.containerPort}`);
      }
    }
    if (!egress) {
      lines.add(`${source.name} -> anywhere:*`);
      continue;
    }
    for (const rule of egress) {
      const peers = !rule.peers || rule.peers.length === 0 ? ["anywhere"] : rule.peers.map(outsidePeerText).filter((t): t is string => t !== undefined);
      const ports = !rule.ports || rule.ports.length === 0 ? ["*"] : rule.ports.map(portText);
      for (const peer of peers) for (const port of ports) lines.add(`${source.name} -> ${peer}:${port}`);
    }
  }
  return [...lines].sort();
}
