// The Helm chart in deploy/helm/rights-platform: values.yaml against values.schema.json (and bad values rejected),
// templates reference only values that exist, Chart.yaml's appVersion is the package version; with the real helm
// binary: `helm lint --strict`, a client-side install renders hooks and NOTES.txt, and `helm template` renders
// objects that pass the same checker as the plain manifests and declare the same components, ports, probes,
// resources, security contexts, rollout settings and allowed network calls.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { beforeAll, describe, expect, it } from "vitest";
import { Metrics } from "../../services/common/metrics.js";
import { registerTaskMetrics } from "../../services/notify/task-metrics.js";
import { checkObjects, isObj, networkReachability, schemaProblems, summarizeComponents, unknownFieldProblems } from "../support/k8s-checks.js";
import { chartDir, clone, describeWithTools, manifestObjects, parseYamlDocuments, readYamlObject, repoRoot, runTool } from "../support/deploy-files.js";

const valuesFile = path.join(chartDir, "values.yaml");
const schemaFile = path.join(chartDir, "values.schema.json");
const testValuesFile = path.join(chartDir, "ci", "test-values.yaml");
const templatesDir = path.join(chartDir, "templates");

/** The components with a values block of their own: the plain manifests' Deployments (the Job is `migrations`). */
function serviceComponents(): string[] {
  return Object.entries(summarizeComponents(manifestObjects()))
    .filter(([, summary]) => summary.kind === "Deployment")
    .map(([name]) => name)
    .sort();
}

// Helm validates values with a draft-07 validator that does not assert "format"; so does this one. Ajv's strict
// mode additionally rejects a schema with unknown keywords (a misspelt "additionalproperties" would otherwise
// silently allow anything).
function valuesValidator(): ValidateFunction {
  const schema: unknown = JSON.parse(readFileSync(schemaFile, "utf8"));
  if (!isObj(schema)) throw new Error("values.schema.json is not a JSON object");
  return new Ajv({ allErrors: true, strict: true, validateFormats: false }).compile(schema);
}

function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
}

/** The path of the first key named `key` in a values tree, e.g. ["common", "logLevel"]. */
function findKey(tree: unknown, key: string, at: string[] = []): string[] | undefined {
  if (!isObj(tree)) return undefined;
  if (Object.hasOwn(tree, key)) return [...at, key];
  for (const [name, child] of Object.entries(tree)) {
    const found = findKey(child, key, [...at, name]);
    if (found) return found;
  }
  return undefined;
}

function setPath(tree: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let node: Record<string, unknown> = tree;
  for (const key of keys.slice(0, -1)) {
    const child = node[key];
    if (!isObj(child)) throw new Error(`values have no mapping at ${keys.join(".")}`);
    node = child;
  }
  const last = keys.at(-1);
  if (last === undefined) throw new Error("empty values path");
  node[last] = value;
}

/** Helm's merge of a -f file over the chart's values: maps merge deeply, anything else replaces, null deletes. */
function mergeValues(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    if (value === null) delete merged[key];
    else merged[key] = isObj(current) && isObj(value) ? mergeValues(current, value) : value;
  }
  return merged;
}

function hasPath(tree: unknown, keys: readonly string[]): boolean {
  let node = tree;
  for (const key of keys) {
    if (!isObj(node) || !Object.hasOwn(node, key)) return false;
    node = node[key];
  }
  return true;
}

describe("values.yaml and values.schema.json", () => {
  it("values.yaml validates against the draft-07 values.schema.json", () => {
    const schema: unknown = JSON.parse(readFileSync(schemaFile, "utf8"));
    expect(isObj(schema) && schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    const validate = valuesValidator();
    expect(validate(readYamlObject(valuesFile)), describeErrors(validate.errors).join("\n")).toBe(true);
  });

  it("values.yaml merged with ci/test-values.yaml validates too (helm validates the merged values)", () => {
    const validate = valuesValidator();
    const merged = mergeValues(readYamlObject(valuesFile), readYamlObject(testValuesFile));
    expect(validate(merged), describeErrors(validate.errors).join("\n")).toBe(true);
  });

  type Breakage = (values: Record<string, unknown>) => void;
  const cases: Array<[string, Breakage, string]> = [
    ["negative replicas", (v) => setPath(v, ["gateway", "replicas"], -1), "/gateway/replicas"],
    ["an unknown top-level key", (v) => setPath(v, ["replicaCount"], 2), "/"],
    ["an unknown key in a service block (typo)", (v) => setPath(v, ["order", "replica"], 2), "/order"],
    ["a port of the wrong type", (v) => setPath(v, ["voucher", "port"], "50052"), "/voucher/port"],
    ["replicas of the wrong type", (v) => setPath(v, ["order", "replicas"], "two"), "/order/replicas"],
    ["a trusted proxy that is not an address or CIDR", (v) => setPath(v, ["gateway", "trustedProxies"], "ingress-nginx"), "/gateway/trustedProxies"],
    ["an unknown key in resources", (v) => setPath(v, ["gateway", "resources", "limit"], { cpu: "1" }), "/gateway/resources"],
  ];
  it.each(cases)("rejects %s", (_name, breakValues, where) => {
    const values = clone(readYamlObject(valuesFile));
    breakValues(values);
    const validate = valuesValidator();
    expect(validate(values)).toBe(false);
    expect(describeErrors(validate.errors).some((e) => e.startsWith(`${where} `))).toBe(true);
  });

  it("rejects a log level pino does not have", () => {
    const values = clone(readYamlObject(valuesFile));
    const logLevel = findKey(values, "logLevel");
    expect(logLevel, "values.yaml has a logLevel").toBeDefined();
    setPath(values, logLevel ?? [], "verbose");
    const validate = valuesValidator();
    expect(validate(values)).toBe(false);
    expect(describeErrors(validate.errors).some((e) => e.startsWith(`/${(logLevel ?? []).join("/")} `))).toBe(true);
  });
});

describe("chart templates", () => {
  // Template text minus comments ({{/* … */}}), which may mention values by way of explanation.
  function templateTexts(): Array<[string, string]> {
    return readdirSync(templatesDir)
      .filter((f) => /\.(ya?ml|tpl|txt)$/.test(f))
      .map((f) => [f, readFileSync(path.join(templatesDir, f), "utf8").replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, "")]);
  }

  function references(pattern: RegExp): Array<{ file: string; keys: string[] }> {
    return templateTexts().flatMap(([file, text]) =>
      [...text.matchAll(pattern)].map((match) => ({ file, keys: (match[1] ?? "").split(".").filter(Boolean) })),
    );
  }

  it("reference only .Values paths that exist in values.yaml", () => {
    const values = readYamlObject(valuesFile);
    const refs = references(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g);
    expect(refs.length).toBeGreaterThan(0);
    const missing = refs.filter((r) => !hasPath(values, r.keys)).map((r) => `${r.file}: .Values.${r.keys.join(".")}`);
    expect([...new Set(missing)]).toEqual([]);
  });

  it("reference only $svc keys that every service block has", () => {
    const values = readYamlObject(valuesFile);
    const components = serviceComponents();
    expect(components).toEqual(["gateway", "notify", "order", "reconciliation", "voucher"]);
    const refs = references(/\$svc((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g);
    expect(refs.length).toBeGreaterThan(0);
    const missing = components.flatMap((component) =>
      refs.filter((r) => !hasPath(values, [component, ...r.keys])).map((r) => `${r.file}: $svc.${r.keys.join(".")} (no ${component}.${r.keys.join(".")})`),
    );
    expect([...new Set(missing)]).toEqual([]);
  });

  it("Chart.yaml: apiVersion v2, name rights-platform, appVersion = package.json version", () => {
    const chart = readYamlObject(path.join(chartDir, "Chart.yaml"));
    const pkg: unknown = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    expect(chart.apiVersion).toBe("v2");
    expect(chart.name).toBe("rights-platform");
    expect(chart.appVersion).toBe(isObj(pkg) ? pkg.version : undefined);
  });
});

describeWithTools("helm with ci/test-values.yaml", ({ helm }) => {
  let rendered: unknown[] = [];
  beforeAll(() => {
    rendered = parseYamlDocuments(
      runTool(helm, ["template", "rights", chartDir, "--namespace", "rights", "-f", testValuesFile]),
      "helm template",
    );
  });

  it("helm lint --strict passes", () => {
    runTool(helm, ["lint", "--strict", chartDir, "-f", testValuesFile]); // throws with helm's output on failure
  });

  it("helm install --dry-run=client (no cluster) renders the hooks and NOTES.txt", () => {
    const output = runTool(helm, ["install", "rights", chartDir, "--dry-run=client", "--namespace", "rights", "-f", testValuesFile]);
    expect(output).toMatch(/^HOOKS:/m);
    expect(output).toMatch(/^NOTES:\n\S/m);
  });

  it("helm template renders objects that pass the checker with no problem", async () => {
    expect(rendered.length).toBeGreaterThan(0);
    expect(await checkObjects(rendered)).toEqual([]);
  });

  // The chart's other branches. Those that switch off an HPA, a PDB or the NetworkPolicies are held to the schema
  // and unknown-field layers only, since the policy requires exactly what they switch off.
  const variants: Array<[string[], "full" | "schema"]> = [
    [["networkPolicy.externalCidr=10.0.0.0/8"], "full"],
    [["sandboxAes.secretName="], "full"],
    [["imagePullSecrets[0].name=regcred", "image.repository=registry.example.com/rights/rights-platform", "image.tag=0.2.0"], "full"],
    [["gateway.env.FEATURE_X=on", "order.env.LOG_LEVEL=debug"], "full"],
    [["migrations.enabled=false"], "full"],
    [["fullnameOverride=rp"], "full"],
    [["order.create=false"], "full"],
    [["gateway.autoscaling.enabled=false", "order.podDisruptionBudget.enabled=false"], "schema"],
    [["networkPolicy.enabled=false"], "schema"],
  ];
  it.each(variants)("helm template --set %s renders valid objects", async (sets, checks) => {
    const objects = parseYamlDocuments(
      runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, ...sets.flatMap((set) => ["--set", set])]),
      `helm template --set ${sets.join(" ")}`,
    );
    const problems = checks === "full" ? await checkObjects(objects) : [...(await schemaProblems(objects)), ...(await unknownFieldProblems(objects))];
    expect(problems).toEqual([]);
  });

  describe("alerts.enabled: a PrometheusRule", () => {
    const sets = ["alerts.enabled=true", 'alerts.seriesSelector=namespace="rights"', "alerts.alertLabels.team=rights", "alerts.ruleLabels.release=kps"];
    let objects: unknown[] = [];
    beforeAll(() => {
      objects = parseYamlDocuments(runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, ...sets.flatMap((set) => ["--set", set])]), "helm template alerts");
    });
    const rules = () => {
      const rule = objects.find((o) => isObj(o) && o.kind === "PrometheusRule");
      const groups = isObj(rule) && isObj(rule.spec) && Array.isArray(rule.spec.groups) ? rule.spec.groups : [];
      return groups.flatMap((g: unknown) => (isObj(g) && Array.isArray(g.rules) ? g.rules : [])).filter(isObj);
    };

    it("is absent by default (its CRD may not be in the cluster)", () => {
      expect(rendered.some((o) => isObj(o) && o.kind === "PrometheusRule")).toBe(false);
    });

    it("passes the Prometheus Operator's schema and the checker, with the chart's labels", async () => {
      expect(await checkObjects(objects)).toEqual([]);
      const rule = objects.find((o) => isObj(o) && o.kind === "PrometheusRule");
      expect(isObj(rule) && rule.apiVersion).toBe("monitoring.coreos.com/v1");
      expect(isObj(rule) && isObj(rule.metadata) && rule.metadata.labels).toMatchObject({ release: "kps", "app.kubernetes.io/instance": "rights" });
      expect(rules().map((r) => r.alert)).toEqual([
        "RightsEventDeadLettered",
        "RightsOutboxNotPublishing",
        "RightsOutboxBacklog",
        "RightsNotificationDead",
        "RightsNotificationDelayed",
        "RightsUpstreamFailing",
        "RightsGatewayErrors",
        "RightsInternalErrors",
        "RightsUndecryptableRequests",
      ]);
    });

    it("reads only series the services export, each under the series selector, and labels every alert", async () => {
      const metrics = new Metrics({ processMetrics: false });
      registerTaskMetrics(metrics.registry, { backlog: async () => [] }, { now: () => new Date() });
      const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
      for (const rule of rules()) {
        const expr = String(rule.expr);
        const series = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)];
        expect(series.length, String(rule.alert)).toBeGreaterThan(0);
        for (const [, name, matchers] of series) {
          expect(exported.has(name ?? ""), `${String(rule.alert)}: ${name} is not a series any service exports`).toBe(true);
          expect(matchers, String(rule.alert)).toMatch(/,namespace="rights"$/);
        }
        expect(rule.labels, String(rule.alert)).toMatchObject({ team: "rights", severity: expect.stringMatching(/^(critical|warning)$/) });
        expect(isObj(rule.annotations) && rule.annotations.summary, String(rule.alert)).toMatch(/\S/);
      }
    });

    it("reads every series of the names when no selector is set", () => {
      const plain = parseYamlDocuments(runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, "--set", "alerts.enabled=true"]), "helm template alerts plain");
      const rule = plain.find((o) => isObj(o) && o.kind === "PrometheusRule");
      expect(JSON.stringify(rule)).not.toContain(",}");
      expect(JSON.stringify(rule)).toContain('events_handled_total{outcome=\\"dead\\"}');
    });
  });

  it("lets the voucher pods reach the ESB send channels' ports (voucher.esbPorts), once each, and no other component", () => {
    const policies = (sets: string[]) =>
      parseYamlDocuments(runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, ...sets.flatMap((set) => ["--set", set])]), "helm template esbPorts").filter(
        (o): o is Record<string, unknown> => isObj(o) && o.kind === "NetworkPolicy",
      );
    const externalPorts = (policy: Record<string, unknown>) =>
      (isObj(policy.spec) && Array.isArray(policy.spec.egress) ? policy.spec.egress : [])
        .filter((rule: unknown) => isObj(rule) && !Array.isArray(rule.to))
        .flatMap((rule: unknown) => (isObj(rule) && Array.isArray(rule.ports) ? rule.ports : []))
        .map((port: unknown) => (isObj(port) ? port.port : undefined));
    const named = (all: Array<Record<string, unknown>>, name: string) => all.find((p) => isObj(p.metadata) && p.metadata.name === name);
    const before = policies([]);
    const after = policies(["voucher.esbPorts={8443,443}"]);
    expect(externalPorts(named(after, "rights-rights-platform-voucher")!)).toEqual([...externalPorts(named(before, "rights-rights-platform-voucher")!), 8443]);
    for (const policy of after.filter((p) => isObj(p.metadata) && p.metadata.name !== "rights-rights-platform-voucher")) {
      expect(policy, JSON.stringify(policy.metadata)).toEqual(named(before, isObj(policy.metadata) ? String(policy.metadata.name) : ""));
    }
  });

  describe("podMonitor.enabled: a PodMonitor", () => {
    it("is absent by default (its CRD may not be in the cluster)", () => {
      expect(rendered.some((o) => isObj(o) && o.kind === "PodMonitor")).toBe(false);
    });

    it("passes the Prometheus Operator's schema and scrapes the metrics port of every component's pods, the migrate Job's not", async () => {
      const sets = ["podMonitor.enabled=true", "podMonitor.labels.release=kps", "podMonitor.interval=15s"];
      const objects = parseYamlDocuments(runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, ...sets.flatMap((set) => ["--set", set])]), "helm template podMonitor");
      expect(await checkObjects(objects)).toEqual([]);
      const monitor = objects.find((o) => isObj(o) && o.kind === "PodMonitor");
      expect(monitor).toMatchObject({
        apiVersion: "monitoring.coreos.com/v1",
        metadata: { labels: { release: "kps", "app.kubernetes.io/instance": "rights" } },
        spec: { podMetricsEndpoints: [{ port: "metrics", path: "/metrics", interval: "15s", scrapeTimeout: "10s" }] },
      });
      const selector = isObj(monitor) && isObj(monitor.spec) && isObj(monitor.spec.selector) && isObj(monitor.spec.selector.matchLabels) ? monitor.spec.selector.matchLabels : {};
      const matches = (labels: unknown) => isObj(labels) && Object.entries(selector).every(([key, value]) => labels[key] === value);
      const pods = objects.filter(isObj).flatMap((o) => {
        const template = isObj(o.spec) && isObj(o.spec.template) ? o.spec.template : isObj(o.spec) && isObj(o.spec.jobTemplate) ? o.spec.jobTemplate : undefined;
        return template && isObj(template.metadata) && isObj(template.spec) ? [{ kind: o.kind, labels: template.metadata.labels, spec: template.spec }] : [];
      });
      const ports = (spec: Record<string, unknown>) =>
        (Array.isArray(spec.containers) ? spec.containers : []).flatMap((c: unknown) => (isObj(c) && Array.isArray(c.ports) ? c.ports : [])).map((p: unknown) => (isObj(p) ? p.name : undefined));
      const deployments = pods.filter((pod) => pod.kind === "Deployment");
      expect(deployments.length).toBe(5);
      for (const pod of deployments) {
        expect(matches(pod.labels)).toBe(true);
        expect(ports(pod.spec)).toContain("metrics");
      }
      for (const pod of pods.filter((p) => p.kind === "Job")) expect(ports(pod.spec)).not.toContain("metrics");
    });

    it("refuses an interval that is not a Prometheus duration", () => {
      expect(() => runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, "--set", "podMonitor.enabled=true", "--set", "podMonitor.interval=30 seconds"])).toThrow(/interval/);
    });
  });

  describe("dashboards.enabled: the Grafana dashboard as a ConfigMap", () => {
    const dashboardFile = path.join(chartDir, "dashboards", "rights-platform.json");
    const render = (sets: string[]) =>
      parseYamlDocuments(runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, ...sets.flatMap((set) => ["--set", set])]), "helm template dashboards").filter(
        (o): o is Record<string, unknown> => isObj(o) && o.kind === "ConfigMap" && isObj(o.metadata) && String(o.metadata.name).endsWith("-dashboard"),
      );
    type Panel = { id: number; type: string; title: string; datasource?: unknown; gridPos: { x: number; w: number }; targets?: Array<{ expr: string }> };
    const panels = (): Panel[] => (JSON.parse(readFileSync(dashboardFile, "utf8")) as { panels: Panel[] }).panels;

    it("is absent by default", () => {
      expect(render([])).toEqual([]);
    });

    it("holds the dashboard file as it is, under the sidecar's label, the chart's labels, its annotations and namespace", async () => {
      const sets = ["dashboards.enabled=true", "dashboards.annotations.grafana_folder=Rights", "dashboards.namespace=monitoring"];
      const [map] = render(sets);
      expect(await checkObjects([map])).toEqual([]);
      expect(map).toMatchObject({
        metadata: { namespace: "monitoring", labels: { grafana_dashboard: "1", "app.kubernetes.io/instance": "rights" }, annotations: { grafana_folder: "Rights" } },
      });
      expect(JSON.parse(String(isObj(map?.data) && map.data["rights-platform.json"]))).toEqual(JSON.parse(readFileSync(dashboardFile, "utf8")));
      expect(render(["dashboards.enabled=true"])[0]?.metadata).not.toHaveProperty("namespace");
    });

    it("reads only series the services export, each in the chosen namespace, from the chosen data source", async () => {
      const metrics = new Metrics({ processMetrics: true });
      registerTaskMetrics(metrics.registry, { backlog: async () => [] }, { now: () => new Date() });
      const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
      const graphs = panels().filter((p) => p.type !== "row");
      expect(graphs.length).toBeGreaterThanOrEqual(15);
      for (const panel of graphs) {
        expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
        for (const { expr } of panel.targets ?? []) {
          const series = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)];
          expect(series.length, panel.title).toBeGreaterThan(0);
          for (const [, name = "", matchers] of series) {
            // A histogram's series are read by its _bucket.
            expect(exported.has(name) || exported.has(name.replace(/_bucket$/, "")), `${panel.title}: ${name} is not a series any service exports`).toBe(true);
            expect(matchers, panel.title).toMatch(/(^|,)namespace="\$namespace"$/);
          }
        }
      }
    });

    it("has panels of distinct ids laid out within Grafana's 24 columns", () => {
      const all = panels();
      expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
      for (const p of all) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    });
  });

  it("fails when common.terminationGracePeriodSeconds does not exceed the process's own drain bound (delay + grace + 5 s)", () => {
    expect(() => runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, "--set", "common.terminationGracePeriodSeconds=30"])).toThrow(
      /terminationGracePeriodSeconds \(30 s\) must exceed/,
    );
  });

  it("declares the same components, ports, probes, Service ports, resources, security contexts and rollout as deploy/k8s", () => {
    const chart = summarizeComponents(rendered);
    const plain = summarizeComponents(manifestObjects());
    expect(Object.keys(chart).sort()).toEqual(Object.keys(plain).sort());
    for (const [name, summary] of Object.entries(plain)) expect(chart[name], name).toEqual(summary);
  });

  it("reads each variable from the same place as deploy/k8s: the same ConfigMap keys, the same Secrets and keys", () => {
    const sources = (objects: unknown[]) => {
      const found: Record<string, string> = {};
      for (const object of objects) {
        if (!isObj(object)) continue;
        if (object.kind === "ConfigMap" && isObj(object.data)) found["ConfigMap keys"] = Object.keys(object.data).sort().join(",");
        const template = isObj(object.spec) && isObj(object.spec.template) ? object.spec.template : undefined;
        const pod = template && isObj(template.spec) ? template.spec : undefined;
        const containers = pod && Array.isArray(pod.containers) ? pod.containers : [];
        for (const container of containers) {
          if (!isObj(container) || !Array.isArray(container.env)) continue;
          for (const env of container.env) {
            // The deployment's name is the one variable set differently by design (below).
            if (!isObj(env) || !isObj(env.valueFrom) || env.name === "PLATFORM_INSTANCE") continue;
            const { configMapKeyRef, secretKeyRef } = env.valueFrom;
            // Object names differ (the chart prefixes its own); Secret names are the SRE's and must not.
            const source = isObj(configMapKeyRef) ? `config:${String(configMapKeyRef.key)}` : isObj(secretKeyRef) ? `secret:${String(secretKeyRef.name)}/${String(secretKeyRef.key)}` : "?";
            found[`${String(container.name)} ${String(env.name)}`] = source;
          }
        }
      }
      return found;
    };
    expect(sources(rendered)).toEqual(sources(manifestObjects()));
  });

  it("names the deployment on every service and the migrate Job (PLATFORM_INSTANCE, claimed on streams, schemas and Redis): the chart <namespace>/<release> or common.instance, deploy/k8s its namespace", () => {
    const instances = (objects: unknown[]) =>
      Object.fromEntries(
        objects
          .filter((o): o is Record<string, unknown> => isObj(o) && (o.kind === "Deployment" || o.kind === "Job"))
          .map((d) => {
            const spec = isObj(d.spec) && isObj(d.spec.template) && isObj(d.spec.template.spec) ? d.spec.template.spec : {};
            const [container] = Array.isArray(spec.containers) ? spec.containers : [];
            const env = isObj(container) && Array.isArray(container.env) ? container.env : [];
            const entry = env.find((e: unknown) => isObj(e) && e.name === "PLATFORM_INSTANCE");
            return [isObj(container) ? String(container.name) : "", isObj(entry) ? (entry.value ?? entry.valueFrom) : undefined];
          }),
      );
    const services = ["order", "voucher", "notify", "reconciliation", "migrate"];
    const chart = instances(parseYamlDocuments(runTool(helm, ["template", "rights", chartDir, "--namespace", "rights", "-f", testValuesFile]), "helm template"));
    expect(chart).toEqual({ gateway: undefined, ...Object.fromEntries(services.map((name) => [name, "rights/rights"])) });
    // A release moved keeps the name its claims carry.
    const moved = instances(
      parseYamlDocuments(runTool(helm, ["template", "rights", chartDir, "--namespace", "rights-2", "-f", testValuesFile, "--set", "common.instance=rights/rights"]), "helm template"),
    );
    expect(moved).toEqual(chart);
    expect(instances(manifestObjects())).toEqual({ gateway: undefined, ...Object.fromEntries(services.map((name) => [name, { fieldRef: { fieldPath: "metadata.namespace" } }])) });
  });

  it("gateway.trustedProxies reaches the gateway as GATEWAY_TRUSTED_PROXIES (the ConfigMap), as in deploy/k8s", () => {
    const trusted = (objects: unknown[]) => {
      const config = objects.find((o) => isObj(o) && o.kind === "ConfigMap");
      const gateway = objects.find((o) => isObj(o) && o.kind === "Deployment" && isObj(o.metadata) && String(o.metadata.name).endsWith("gateway"));
      const spec = isObj(gateway) && isObj(gateway.spec) && isObj(gateway.spec.template) && isObj(gateway.spec.template.spec) ? gateway.spec.template.spec : {};
      const containers = Array.isArray(spec.containers) ? spec.containers : [];
      const env = isObj(containers[0]) && Array.isArray(containers[0].env) ? containers[0].env : [];
      const entry: unknown = env.find((e) => isObj(e) && e.name === "GATEWAY_TRUSTED_PROXIES");
      const ref = isObj(entry) && isObj(entry.valueFrom) && isObj(entry.valueFrom.configMapKeyRef) ? entry.valueFrom.configMapKeyRef.key : undefined;
      return { key: ref, value: isObj(config) && isObj(config.data) ? config.data.GATEWAY_TRUSTED_PROXIES : undefined };
    };
    expect(trusted(rendered)).toEqual({ key: "GATEWAY_TRUSTED_PROXIES", value: "" });
    expect(trusted(manifestObjects())).toEqual({ key: "GATEWAY_TRUSTED_PROXIES", value: "" });
    const set = parseYamlDocuments(
      runTool(helm, ["template", "rights", chartDir, "-f", testValuesFile, "--set", "gateway.trustedProxies=10.0.0.0/8\\,192.168.1.1"]),
      "helm template --set gateway.trustedProxies",
    );
    expect(trusted(set)).toEqual({ key: "GATEWAY_TRUSTED_PROXIES", value: "10.0.0.0/8,192.168.1.1" });
  });

  it("its NetworkPolicies allow the same calls as deploy/k8s", () => {
    expect(networkReachability(rendered)).toEqual(networkReachability(manifestObjects()));
  });
});
