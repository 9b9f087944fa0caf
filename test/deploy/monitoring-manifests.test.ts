// deploy/k8s/monitoring: the Prometheus Operator's objects for the plain manifests, and the Grafana dashboard. The
// PodMonitor scrapes every Deployment's metrics port; the PrometheusRule is the chart's (alerts.enabled=true, default
// thresholds, no series selector) and the dashboard's ConfigMap the chart's (dashboards.enabled=true), each written
// by `npm run manifests:monitoring`, and this test fails when the chart's moved on.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { checkObjects, isObj } from "../support/k8s-checks.js";
import { chartDir, describeWithTools, manifestObjects, manifestsDir, parseYamlDocuments, readYamlFile, readYamlObject, runTool } from "../support/deploy-files.js";

const monitoringDir = path.join(manifestsDir, "monitoring");
const ruleFile = path.join(monitoringDir, "prometheus-rule.yaml");
const dashboardFile = path.join(monitoringDir, "dashboard.yaml");
const DASHBOARD_HEADER = `# The chart's Grafana dashboard (deploy/helm/rights-platform/dashboards/rights-platform.json) as the ConfigMap a
# Grafana dashboard sidecar loads (label grafana_dashboard: "1"); apply it where the sidecar looks. Written by
# \`npm run manifests:monitoring\`: edit the chart's JSON, not this file.
`;
const RULE_HEADER = `# The alerts of the repository README's "Alerts", as the chart renders them with alerts.enabled=true and its default
# thresholds; with several releases in one Prometheus, add a namespace matcher to each series (the chart's
# alerts.seriesSelector does). Written by \`npm run manifests:monitoring\`: edit the chart, not this file.
`;

const monitoringObjects = () => {
  const { resources } = readYamlObject(path.join(monitoringDir, "kustomization.yaml"));
  return (resources as string[]).flatMap((file) => readYamlFile(path.join(monitoringDir, file)));
};

describe("deploy/k8s/monitoring", () => {
  it("passes the Prometheus Operator's schema and the checker", async () => {
    const objects = monitoringObjects();
    expect(objects.map((o) => (isObj(o) ? o.kind : undefined))).toEqual(["ConfigMap", "PodMonitor", "PrometheusRule"]);
    expect(await checkObjects(objects)).toEqual([]);
  });

  it("scrapes the metrics port of every Deployment of the plain manifests, and not the migrate Job's pods (they have none)", () => {
    const monitor = monitoringObjects().find((o) => isObj(o) && o.kind === "PodMonitor");
    const spec = isObj(monitor) && isObj(monitor.spec) ? monitor.spec : {};
    const selector = isObj(spec.selector) && isObj(spec.selector.matchLabels) ? spec.selector.matchLabels : {};
    expect(spec.podMetricsEndpoints).toEqual([expect.objectContaining({ port: "metrics", path: "/metrics" })]);
    const workloads = manifestObjects().filter((o): o is Record<string, unknown> => isObj(o) && (o.kind === "Deployment" || o.kind === "Job"));
    expect(workloads.filter((o) => o.kind === "Deployment")).toHaveLength(5);
    for (const workload of workloads) {
      const template = isObj(workload.spec) && isObj(workload.spec.template) ? workload.spec.template : {};
      const labels = isObj(template.metadata) && isObj(template.metadata.labels) ? template.metadata.labels : {};
      const containers = isObj(template.spec) && Array.isArray(template.spec.containers) ? template.spec.containers : [];
      const ports = containers.flatMap((c: unknown) => (isObj(c) && Array.isArray(c.ports) ? c.ports : [])).map((p: unknown) => (isObj(p) ? p.name : undefined));
      const name = isObj(workload.metadata) ? String(workload.metadata.name) : "";
      expect(Object.entries(selector).every(([key, value]) => labels[key] === value), name).toBe(true);
      expect(ports.includes("metrics"), name).toBe(workload.kind === "Deployment");
    }
  });
});

describeWithTools("deploy/k8s/monitoring against the chart and kubectl", ({ helm, kubectl }) => {
  it("kubectl kustomize builds exactly its objects", () => {
    expect(parseYamlDocuments(runTool(kubectl, ["kustomize", monitoringDir]), "kubectl kustomize monitoring")).toEqual(monitoringObjects());
  });

  /**
   * The chart's object of `template` (rendered with `set`) as the plain manifests hold it, under their name and
   * labels (`extraLabels` besides), with its `body` field; `npm run manifests:monitoring` (WRITE_MANIFESTS=1) writes it.
   */
  const expectChartCopy = (file: string, header: string, chart: { template: string; set: string; body: "spec" | "data" }, name: string, component: string, extraLabels = {}) => {
    const [rendered] = parseYamlDocuments(
      runTool(helm, ["template", "rights", chartDir, "-f", path.join(chartDir, "ci", "test-values.yaml"), "--set", chart.set, "-s", `templates/${chart.template}`]),
      `helm template ${chart.template}`,
    );
    if (!isObj(rendered)) throw new Error(`the chart rendered nothing of ${chart.template}`);
    const plain = {
      apiVersion: rendered.apiVersion,
      kind: rendered.kind,
      metadata: {
        name,
        labels: { "app.kubernetes.io/name": "rights-platform", "app.kubernetes.io/part-of": "rights-platform", "app.kubernetes.io/component": component, ...extraLabels },
      },
      [chart.body]: rendered[chart.body],
    };
    const text = `${header}${stringify(plain, { lineWidth: 0 })}`;
    if (process.env.WRITE_MANIFESTS === "1") writeFileSync(file, text);
    expect(readFileSync(file, "utf8"), `${path.relative(manifestsDir, file)} is stale: run npm run manifests:monitoring`).toBe(text);
  };

  it("holds the chart's PrometheusRule (npm run manifests:monitoring rewrites it)", () => {
    expectChartCopy(ruleFile, RULE_HEADER, { template: "prometheus-rule.yaml", set: "alerts.enabled=true", body: "spec" }, "rights-platform-alerts", "alerts");
  });

  it("holds the chart's dashboard ConfigMap (npm run manifests:monitoring rewrites it)", () => {
    expectChartCopy(dashboardFile, DASHBOARD_HEADER, { template: "dashboard.yaml", set: "dashboards.enabled=true", body: "data" }, "rights-platform-dashboard", "dashboard", {
      grafana_dashboard: "1",
    });
  });
});
