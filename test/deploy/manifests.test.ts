// The plain manifests in deploy/k8s: they parse, the kustomization lists exactly them, they pass the checker
// (kubernetes-models schemas, unknown fields, the deployment spec's policy), kubectl kustomize builds the same
// objects; and the checker itself is proven to catch each kind of breakage on a broken copy.
import { readdirSync, existsSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { ISecurityContext } from "kubernetes-models/v1/SecurityContext";
import type { IService } from "kubernetes-models/v1/Service";
import { checkObjects, isObj, NAME_LABEL, networkReachability, objectLabel, SECRET_ENV, summarizeComponents } from "../support/k8s-checks.js";
import { clusterSpec, gatewaySpec, processSpec, redisSpec, SHUTDOWN_WATCHDOG_MARGIN_MS } from "../../services/common/config.js";
import { services } from "../../services/platform/services.js";
import { clone, describeWithTools, listedManifestFiles, manifestObjects, manifestsDir, parseYamlDocuments, readYamlFile, runTool } from "../support/deploy-files.js";

function byKindAndName(objects: readonly unknown[]): unknown[] {
  return [...objects].sort((a, b) => objectLabel(a).localeCompare(objectLabel(b)));
}

describe("deploy/k8s plain manifests", () => {
  it("every YAML file parses and is listed in kustomization.yaml, and every listed file exists", () => {
    const files = readdirSync(manifestsDir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
    for (const file of files) expect(() => readYamlFile(path.join(manifestsDir, file)), file).not.toThrow();
    const listed = listedManifestFiles();
    expect([...listed].sort()).toEqual([...files].sort());
    for (const file of listed) expect(existsSync(path.join(manifestsDir, file)), file).toBe(true);
  });

  it("pass the checker with no problem", async () => {
    expect(await checkObjects(manifestObjects())).toEqual([]);
  });

  it("declare the gateway, order, voucher, notify and reconciliation Deployments and the migrate Job", () => {
    const components = summarizeComponents(manifestObjects());
    expect(Object.fromEntries(Object.entries(components).map(([name, c]) => [name, c.kind]))).toEqual({
      gateway: "Deployment",
      order: "Deployment",
      voucher: "Deployment",
      notify: "Deployment",
      reconciliation: "Deployment",
      migrate: "Job",
    });
  });
});

// What each role reads (services/*/config.ts, the gateway's spec) against what its Deployment sets: a variable the
// code reads under one name and the manifest sets under another, or a credential no Secret reaches, shows up here.
describe("deploy/k8s: each Deployment against its role's config spec", () => {
  const specs: Record<string, Record<string, unknown>> = {
    gateway: { ...processSpec, ...gatewaySpec },
    ...Object.fromEntries(services.map((s) => [s.name, { ...clusterSpec, ...(s.needs.redis ? redisSpec : {}), ...s.config }])),
  };
  // Read by the code but deliberately not deployed: staging-only switches a production-shaped manifest leaves out.
  const notDeployed = new Set(["voucher ERP_SANDBOX_SECRET"]);
  const deployments = () =>
    new Map(
      manifestObjects()
        .filter((o): o is IDeployment => isObj(o) && o.kind === "Deployment")
        .map((d) => [d.metadata?.labels?.[NAME_LABEL] ?? "", d.spec?.template.spec?.containers[0]?.env ?? []]),
    );

  it("every Deployment is a role with a config spec, and sets only variables its spec reads (NODE_OPTIONS aside)", () => {
    const byRole = deployments();
    expect([...byRole.keys()].sort()).toEqual(Object.keys(specs).sort());
    const unread = [...byRole].flatMap(([role, env]) =>
      env.filter((e) => e.name !== "NODE_OPTIONS" && !Object.hasOwn(specs[role] ?? {}, e.name)).map((e) => `${role} ${e.name}`),
    );
    expect(unread).toEqual([]);
  });

  it("every credential a role's spec reads comes from a secretKeyRef of its Deployment (optional: true only where the code has a default)", () => {
    const missing: string[] = [];
    for (const [role, env] of deployments()) {
      for (const [name, spec] of Object.entries(specs[role] ?? {})) {
        if (!SECRET_ENV.test(name) || notDeployed.has(`${role} ${name}`)) continue;
        const entry = env.find((e) => e.name === name);
        const ref = entry?.valueFrom?.secretKeyRef;
        const hasDefault = isObj(spec) && Object.hasOwn(spec, "default");
        if (!ref) missing.push(`${role} ${name}: no secretKeyRef`);
        else if (!hasDefault && ref.optional === true) missing.push(`${role} ${name}: required by the code, so not optional: true`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("terminationGracePeriodSeconds exceeds the longest drain the process allows itself (delay + grace + the watchdog's margin)", () => {
    const short: string[] = [];
    for (const d of manifestObjects().filter((o): o is IDeployment => isObj(o) && o.kind === "Deployment")) {
      const env = d.spec?.template.spec?.containers[0]?.env ?? [];
      const ms = (name: string) => Number(env.find((e) => e.name === name)?.value ?? Number.NaN);
      const drainMs = ms("SHUTDOWN_DELAY_MS") + ms("SHUTDOWN_GRACE_MS") + SHUTDOWN_WATCHDOG_MARGIN_MS;
      const graceSeconds = d.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
      if (!(graceSeconds * 1000 > drainMs)) short.push(`${objectLabel(d)}: ${graceSeconds} s, the process may drain for ${drainMs} ms`);
    }
    expect(short).toEqual([]);
  });
});

// The design's calls (deployment spec, "NetworkPolicy"): DNS for everyone, bank -> gateway, gateway -> order,
// reconciliation and voucher (Blue Brothers' callbacks), order -> voucher, voucher -> notify (make-code SMS
// notices), reconciliation -> order and notify, the
// external engines and upstreams by port, Prometheus from the monitoring namespace.
const dns = "namespace {kubernetes.io/metadata.name:kube-system} pods {k8s-app:kube-dns}";
const monitoring = "namespace {kubernetes.io/metadata.name:monitoring}";
const designedCalls = [
  "anywhere -> gateway:http",
  "gateway -> order:grpc",
  "gateway -> reconciliation:grpc",
  "gateway -> voucher:grpc",
  "order -> voucher:grpc",
  "voucher -> notify:grpc",
  "reconciliation -> order:grpc",
  "reconciliation -> notify:grpc",
  ...["gateway", "order", "voucher", "notify", "reconciliation"].map((c) => `${monitoring} -> ${c}:metrics`),
  ...["gateway", "order", "voucher", "notify", "reconciliation", "migrate"].flatMap((c) => [`${c} -> ${dns}:53/UDP`, `${c} -> ${dns}:53/TCP`]),
  ...[5432, 6379, 4222, 443].map((port) => `order -> anywhere:${port}/TCP`),
  ...[5432, 6379, 4222, 443].map((port) => `voucher -> anywhere:${port}/TCP`),
  ...[5432, 4222, 443].map((port) => `notify -> anywhere:${port}/TCP`),
  ...[5432, 6379, 4222].map((port) => `reconciliation -> anywhere:${port}/TCP`),
  "migrate -> anywhere:5432/TCP",
].sort();

describe("deploy/k8s NetworkPolicies", () => {
  it("allow exactly the calls of the design", () => {
    expect(networkReachability(manifestObjects())).toEqual(designedCalls);
  });

  it("an extra allow-all ingress policy shows up as calls the design does not have", () => {
    const objects = clone(manifestObjects());
    objects.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "oops" },
      spec: { podSelector: { matchLabels: { [NAME_LABEL]: "order" } }, policyTypes: ["Ingress"], ingress: [{}] },
    });
    const extra = networkReachability(objects).filter((call) => !designedCalls.includes(call));
    expect(extra).toEqual(["anywhere -> order:grpc", "anywhere -> order:metrics"]);
  });
});

describeWithTools("kubectl kustomize deploy/k8s", ({ kubectl }) => {
  it("builds the same objects as the listed files", () => {
    const built = parseYamlDocuments(runTool(kubectl, ["kustomize", manifestsDir]), "kubectl kustomize");
    expect(byKindAndName(built)).toEqual(byKindAndName(manifestObjects()));
  });
});

// Each case breaks one thing in a copy of the real manifests and expects exactly the problems it adds: the problems
// of the unbroken manifests (none, when they are right) are subtracted so one bad file does not hide the others.
describe("the checker rejects a broken copy of the manifests", () => {
  let original: unknown[] = [];
  let baseline: string[] = [];
  beforeAll(async () => {
    original = manifestObjects();
    baseline = await checkObjects(original);
  });

  // The copies passed the schema check, so reading them through kubernetes-models' types is sound.
  function workload(objects: unknown[], kind: "Deployment" | "Job", component: string): IDeployment | IJob {
    const found = objects.find(
      (o) => isObj(o) && o.kind === kind && isObj(o.metadata) && isObj(o.metadata.labels) && o.metadata.labels[NAME_LABEL] === component,
    );
    if (!found) throw new Error(`no ${kind} labelled ${NAME_LABEL}=${component}`);
    return found as IDeployment | IJob;
  }

  function firstContainer(w: IDeployment | IJob): IContainer {
    const container = w.spec?.template.spec?.containers[0];
    if (!container) throw new Error(`${objectLabel(w)} has no container`);
    return container;
  }

  /** The problems a breakage adds, with the broken object's own label for the expectations. */
  async function breakCopy(kind: "Deployment" | "Job", component: string, mutate: (w: IDeployment | IJob, c: IContainer) => void) {
    const objects = clone(original);
    const target = workload(objects, kind, component);
    mutate(target, firstContainer(target));
    const added = (await checkObjects(objects)).filter((p) => !baseline.includes(p));
    return { added, label: objectLabel(target) };
  }

  const c0 = "spec.template.spec.containers[0]";
  const sorted = (problems: readonly string[]): string[] => [...problems].sort();

  it("an unknown field in a container's securityContext (a misspelt readOnlyRootFilesystem)", async () => {
    const { added, label } = await breakCopy("Deployment", "gateway", (_w, c) => {
      Object.assign(c.securityContext ?? {}, { readOnlyRootFileSystem: true });
    });
    expect(added).toEqual([`${label}: ${c0}.securityContext.readOnlyRootFileSystem: unknown field (not in ISecurityContext)`]);
  });

  it("unknown fields at several depths of one object are all reported", async () => {
    const { added, label } = await breakCopy("Deployment", "order", (w, c) => {
      Object.assign(w.spec ?? {}, { replica: 3 });
      Object.assign(c, { livenesProbe: {} });
      Object.assign(c.ports?.[0] ?? {}, { hostport: 1 });
    });
    expect(sorted(added)).toEqual(
      sorted([
        `${label}: spec.replica: unknown field (not in IDeploymentSpec)`,
        `${label}: ${c0}.ports[0].hostport: unknown field (not in IContainerPort)`,
        `${label}: ${c0}.livenesProbe: unknown field (not in IContainer)`,
      ]),
    );
  });

  it("an unknown field in any object of any kind", async () => {
    const objects = clone(original);
    for (const object of objects) if (isObj(object)) object.spec_ = {};
    const added = (await checkObjects(objects)).filter((p) => !baseline.includes(p));
    expect(sorted(added)).toEqual(sorted(objects.map((o) => `${objectLabel(o)}: spec_: unknown field (not in I${isObj(o) ? String(o.kind) : ""})`)));
  });

  it("a missing readiness probe", async () => {
    const { added, label } = await breakCopy("Deployment", "order", (_w, c) => {
      delete c.readinessProbe;
    });
    expect(added).toEqual([`${label}: ${c0}.readinessProbe: missing`]);
  });

  it("an httpGet liveness probe on a gRPC service", async () => {
    const { added, label } = await breakCopy("Deployment", "voucher", (_w, c) => {
      c.livenessProbe = { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 10 };
    });
    expect(added).toEqual([`${label}: ${c0}.livenessProbe: must be a grpc probe (the container serves gRPC)`]);
  });

  it("a missing memory limit, and a Job container without resources", async () => {
    const deployment = await breakCopy("Deployment", "gateway", (_w, c) => {
      delete c.resources?.limits?.memory;
    });
    expect(deployment.added).toEqual([`${deployment.label}: ${c0}.resources.limits.memory: missing`]);
    const job = await breakCopy("Job", "migrate", (_w, c) => {
      delete c.resources;
    });
    expect(sorted(job.added)).toEqual(
      sorted(["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"].map((r) => `${job.label}: ${c0}.resources.${r}: missing`)),
    );
  });

  const weakenings: Array<[string, ISecurityContext, string]> = [
    ["allowPrivilegeEscalation: true", { allowPrivilegeEscalation: true }, "allowPrivilegeEscalation: must be false"],
    ["runAsNonRoot: false", { runAsNonRoot: false }, "runAsNonRoot: must be true"],
    ["readOnlyRootFilesystem: false", { readOnlyRootFilesystem: false }, "readOnlyRootFilesystem: must be true"],
    ["no drop ALL", { capabilities: { drop: ["NET_RAW"] } }, "capabilities.drop: must include ALL"],
    ["an added capability", { capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] } }, "capabilities.add: must be empty"],
    ["privileged: true", { privileged: true }, "privileged: must not be true"],
    ["runAsUser: 0", { runAsUser: 0 }, "runAsUser: must be a numeric non-root user"],
    ["seccomp Unconfined", { seccompProfile: { type: "Unconfined" } }, "seccompProfile.type: must be RuntimeDefault (or Localhost)"],
  ];
  it.each(weakenings)("a weaker container security context: %s", async (_name, patch, problem) => {
    const { added, label } = await breakCopy("Deployment", "voucher", (_w, c) => {
      c.securityContext = { ...c.securityContext, ...patch };
    });
    expect(added).toEqual([`${label}: ${c0}.securityContext.${problem}`]);
  });

  it("a weaker pod security context and a mounted service account token", async () => {
    const { added, label } = await breakCopy("Job", "migrate", (w) => {
      const pod = w.spec?.template.spec;
      if (!pod) throw new Error("no pod spec");
      pod.automountServiceAccountToken = true;
      Object.assign(pod.securityContext ?? {}, { runAsNonRoot: false });
    });
    const pod = "spec.template.spec";
    // Only the pod is named: a container that repeats runAsNonRoot: true still wins over the pod's false.
    expect(sorted(added)).toEqual(
      sorted([`${label}: ${pod}.automountServiceAccountToken: must be false`, `${label}: ${pod}.securityContext.runAsNonRoot: must be true`]),
    );
  });

  it("a literal DATABASE_URL and an app secret from the ConfigMap", async () => {
    const env = firstContainer(workload(original, "Deployment", "order")).env ?? [];
    const db = env.findIndex((e) => e.name === "DATABASE_URL");
    const secret = env.findIndex((e) => e.name === "PSBC_APP_SECRET");
    expect(db).toBeGreaterThanOrEqual(0);
    expect(secret).toBeGreaterThanOrEqual(0);
    const { added, label } = await breakCopy("Deployment", "order", (_w, c) => {
      const brokenEnv = c.env ?? [];
      brokenEnv[db] = { name: "DATABASE_URL", value: "postgres://rights:hunter2@db:5432/rights" };
      brokenEnv[secret] = { name: "PSBC_APP_SECRET", valueFrom: { configMapKeyRef: { name: "rights-platform-config", key: "PSBC_APP_SECRET" } } };
    });
    expect(sorted(added)).toEqual(
      sorted([
        `${label}: ${c0}.env[${db}].value: DATABASE_URL must come from a secretKeyRef, not a literal`,
        `${label}: ${c0}.env[${secret}].valueFrom: PSBC_APP_SECRET must come from a secretKeyRef`,
      ]),
    );
  });

  it("a Secret object, a missing HPA and a Service port that targets no container port", async () => {
    const objects = clone(original);
    objects.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "leaked" }, stringData: { url: "postgres://x" } });
    const voucher = workload(objects, "Deployment", "voucher");
    const hpa = objects.findIndex(
      (o) => isObj(o) && o.kind === "HorizontalPodAutoscaler" && isObj(o.spec) && isObj(o.spec.scaleTargetRef) && o.spec.scaleTargetRef.name === voucher.metadata?.name,
    );
    expect(hpa).toBeGreaterThanOrEqual(0);
    objects.splice(hpa, 1);
    const service = objects.find(
      (o): o is IService => isObj(o) && o.kind === "Service" && isObj(o.spec) && isObj(o.spec.selector) && o.spec.selector[NAME_LABEL] === "gateway",
    );
    const ports = service?.spec?.ports ?? [];
    const metrics = ports.findIndex((p) => p.name === "metrics");
    const port = ports[metrics];
    if (!service || !port) throw new Error("the gateway Service has no metrics port");
    port.targetPort = "prometheus";
    const gateway = objectLabel(workload(objects, "Deployment", "gateway"));
    const added = (await checkObjects(objects)).filter((p) => !baseline.includes(p));
    expect(sorted(added)).toEqual(
      sorted([
        "Secret/leaked: kind: Secret objects do not belong in the repository (reference SRE-created Secrets by secretKeyRef)",
        `${objectLabel(voucher)}: metadata.name: no HorizontalPodAutoscaler targets this Deployment`,
        `${gateway}: (${objectLabel(service)}) spec.ports[${metrics}].targetPort: prometheus is not a container port`,
        `${gateway}: spec.template.spec.containers: port "metrics" is not exposed by its Service`,
      ]),
    );
  });

  it("no deny-by-default NetworkPolicy", async () => {
    const denyAll = (o: unknown): boolean =>
      isObj(o) && o.kind === "NetworkPolicy" && isObj(o.spec) && [o.spec.ingress, o.spec.egress].every((rules) => !Array.isArray(rules) || rules.length === 0);
    const objects = clone(original).filter((o) => !denyAll(o));
    expect(objects.length).toBeLessThan(original.length);
    const added = (await checkObjects(objects)).filter((p) => !baseline.includes(p));
    const workloads = original.filter((o) => isObj(o) && (o.kind === "Deployment" || o.kind === "Job"));
    expect(sorted(added)).toEqual(
      sorted(workloads.map((w) => `${objectLabel(w)}: spec.template.metadata.labels: no deny-by-default NetworkPolicy (Ingress and Egress, no rules) selects these pods`)),
    );
  });
});
