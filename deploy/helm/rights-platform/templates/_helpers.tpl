{{/*
Chart name, or nameOverride.
*/}}
{{- define "rights-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: fullnameOverride, else "<release>-<name>" (just the release name when it
already contains the chart name). Truncated so that "<fullname>-<component>" stays a DNS label.
*/}}
{{- define "rights-platform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of a component's objects. Call with (dict "root" $ "component" "order").
*/}}
{{- define "rights-platform.componentName" -}}
{{- printf "%s-%s" (include "rights-platform.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the ConfigMap.
*/}}
{{- define "rights-platform.configMapName" -}}
{{- printf "%s-config" (include "rights-platform.fullname" .) }}
{{- end }}

{{/*
chart label value.
*/}}
{{- define "rights-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels. Call with (dict "root" $ "component" "order"); a chart-wide object (ConfigMap,
release-wide NetworkPolicy) passes "shared" true to be named after the chart, not its component.
*/}}
{{- define "rights-platform.selectorLabels" -}}
{{- $name := .component }}
{{- if or .shared (not .component) }}
{{- $name = include "rights-platform.name" .root }}
{{- end -}}
app.kubernetes.io/name: {{ $name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/*
Labels of the release's pods as a whole (NetworkPolicy scope). Call with the root context.
*/}}
{{- define "rights-platform.releaseSelectorLabels" -}}
app.kubernetes.io/part-of: {{ include "rights-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels. Call with (dict "root" $ "component" "order"), adding "shared" true for chart-wide objects.
*/}}
{{- define "rights-platform.labels" -}}
helm.sh/chart: {{ include "rights-platform.chart" .root }}
{{ include "rights-platform.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "rights-platform.name" .root }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
The deployment's name (PLATFORM_INSTANCE): common.instance, else <namespace>/<release>.
*/}}
{{- define "rights-platform.instance" -}}
{{- .Values.common.instance | default (printf "%s/%s" .Release.Namespace .Release.Name) }}
{{- end }}

{{/*
Image reference: repository:tag, tag defaulting to the chart's appVersion.
*/}}
{{- define "rights-platform.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Pod securityContext shared by every workload.
*/}}
{{- define "rights-platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container securityContext shared by every container.
*/}}
{{- define "rights-platform.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
A secretKeyRef env entry. Call with (dict "name" "DATABASE_URL" "secret" "x" "key" "url" "optional" false).
*/}}
{{- define "rights-platform.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
A configMapKeyRef env entry. Call with (dict "root" $ "name" "LOG_LEVEL" "key" "LOG_LEVEL").
*/}}
{{- define "rights-platform.configEnv" -}}
- name: {{ .name }}
  valueFrom:
    configMapKeyRef:
      name: {{ include "rights-platform.configMapName" .root }}
      key: {{ .key | default .name }}
{{- end }}

{{/*
A value as an env string: whole numbers without an exponent (YAML numbers reach templates as float64, and
1000000 would otherwise print as 1e+06).
*/}}
{{- define "rights-platform.envValue" -}}
{{- if and (kindIs "float64" .) (eq (floor .) .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}
