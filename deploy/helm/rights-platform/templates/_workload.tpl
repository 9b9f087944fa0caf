{{/*
rights-platform.workload: everything one long-running component needs, rendered from its values block.

Call with a dict:
  root       the root context ($)
  component  the component name: object name suffix, container name, the role passed as the container's args
  svc        the component's values block (create, replicas, port, resources, env, autoscaling, podDisruptionBudget)
  portName   name of the component's serving port: "grpc" or "http"
  probe      "grpc" (native gRPC probes; liveness asks the health service "liveness", readiness the overall
             status) or "http" (GET /healthz for startup and liveness, GET /readyz for readiness)
  env        list of the component's own env entries (after the common ones; $svc.env overrides by name)
  ingressFrom  NetworkPolicy: components allowed to call portName, or (list "*") for any source
  egressTo     NetworkPolicy: components this one calls on their own port (their values block's `port`)
  egressPorts  NetworkPolicy: TCP ports this one reaches outside the cluster (at networkPolicy.externalCidr,
               or at any address when it is "")

Renders ServiceAccount, Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler and, when
networkPolicy.enabled, the component's NetworkPolicy (the release-wide ones are in network-policy.yaml).
*/}}
{{- define "rights-platform.workload" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $component := .component -}}
{{- $portName := .portName -}}
{{- $name := include "rights-platform.componentName" (dict "root" $root "component" $component) -}}
{{- $ctx := dict "root" $root "component" $component -}}
{{- $metricsPort := $root.Values.common.metricsPort -}}
{{- /* Checks JSON Schema cannot express. */ -}}
{{- $c := $root.Values.common -}}
{{- /* 5000: the process's own watchdog margin past the delay and the grace (SHUTDOWN_WATCHDOG_MARGIN_MS). */ -}}
{{- $drainMs := add ($c.shutdownDelayMs | int) ($c.shutdownGraceMs | int) 5000 -}}
{{- if le (mul ($c.terminationGracePeriodSeconds | int) 1000) $drainMs -}}
{{- fail (printf "common.terminationGracePeriodSeconds (%v s) must exceed common.shutdownDelayMs + common.shutdownGraceMs + 5000 (%v ms), how long a pod may take to stop: the kubelet would kill pods still draining" $c.terminationGracePeriodSeconds $drainMs) -}}
{{- end -}}
{{- if and $svc.autoscaling.enabled (gt ($svc.autoscaling.minReplicas | int) ($svc.autoscaling.maxReplicas | int)) -}}
{{- fail (printf "%s.autoscaling.minReplicas (%v) must not exceed %s.autoscaling.maxReplicas (%v)" $component $svc.autoscaling.minReplicas $component $svc.autoscaling.maxReplicas) -}}
{{- end -}}
{{- if eq ($svc.port | int) ($c.metricsPort | int) -}}
{{- fail (printf "%s.port and common.metricsPort must differ (both %v)" $component $svc.port) -}}
{{- end -}}
{{- /* Environment: common entries, then the component's own, then $svc.env (which wins by name). */ -}}
{{- $common := list
      (include "rights-platform.configEnv" (dict "root" $root "name" "LOG_LEVEL") | fromYamlArray | first)
      (include "rights-platform.configEnv" (dict "root" $root "name" "RPC_TRANSPORT") | fromYamlArray | first)
      (dict "name" "NODE_OPTIONS" "value" ($root.Values.common.nodeOptions | toString))
      (dict "name" "HOST" "value" "0.0.0.0")
      (dict "name" "METRICS_PORT" "value" ($metricsPort | int64 | toString))
      (dict "name" "SHUTDOWN_DELAY_MS" "value" ($root.Values.common.shutdownDelayMs | int64 | toString))
      (dict "name" "SHUTDOWN_GRACE_MS" "value" ($root.Values.common.shutdownGraceMs | int64 | toString)) -}}
{{- /* The services claim their NATS streams, schemas and Redis database for the release: a second release on any is refused at start. */ -}}
{{- if ne $component "gateway" -}}
{{- $common = append $common (dict "name" "PLATFORM_INSTANCE" "value" (include "rights-platform.instance" $root)) -}}
{{- end -}}
{{- $env := list -}}
{{- range (concat $common .env) -}}
{{- if not (hasKey $svc.env .name) -}}
{{- $env = append $env . -}}
{{- end -}}
{{- end -}}
{{- range $key := keys $svc.env | sortAlpha -}}
{{- $env = append $env (dict "name" $key "value" (include "rights-platform.envValue" (get $svc.env $key))) -}}
{{- end -}}
{{- /* Probes. */ -}}
{{- $alive := dict -}}
{{- $ready := dict -}}
{{- if eq .probe "grpc" -}}
{{- $alive = dict "grpc" (dict "port" ($svc.port | int) "service" "liveness") -}}
{{- $ready = dict "grpc" (dict "port" ($svc.port | int)) -}}
{{- else if eq .probe "http" -}}
{{- $alive = dict "httpGet" (dict "path" "/healthz" "port" $portName) -}}
{{- $ready = dict "httpGet" (dict "path" "/readyz" "port" $portName) -}}
{{- else -}}
{{- fail (printf "rights-platform.workload: probe must be grpc or http, got %q for %s" .probe $component) -}}
{{- end -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  labels:
    {{- include "rights-platform.labels" $ctx | nindent 4 }}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "rights-platform.labels" $ctx | nindent 4 }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas | int64 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "rights-platform.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "rights-platform.labels" $ctx | nindent 8 }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $metricsPort | quote }}
        prometheus.io/path: /metrics
        {{- /* Restart the pods when the ConfigMap they read at start changes. */}}
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "rights-platform.podSecurityContext" $root | nindent 8 }}
      terminationGracePeriodSeconds: {{ $root.Values.common.terminationGracePeriodSeconds | int64 }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "rights-platform.selectorLabels" $ctx | nindent 14 }}
      containers:
        - name: {{ $component }}
          image: {{ include "rights-platform.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - {{ $component }}
          ports:
            - name: {{ $portName }}
              containerPort: {{ $svc.port | int64 }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $metricsPort | int64 }}
              protocol: TCP
          env:
            {{- toYaml $env | nindent 12 }}
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- include "rights-platform.containerSecurityContext" $root | nindent 12 }}
          startupProbe:
            {{- toYaml $alive | nindent 12 }}
            periodSeconds: 2
            failureThreshold: 30
            timeoutSeconds: 2
          livenessProbe:
            {{- toYaml $alive | nindent 12 }}
            periodSeconds: 10
            failureThreshold: 3
            timeoutSeconds: 2
          readinessProbe:
            {{- toYaml $ready | nindent 12 }}
            periodSeconds: 5
            failureThreshold: 2
            timeoutSeconds: 2
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "rights-platform.labels" $ctx | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "rights-platform.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: {{ $portName }}
      port: {{ $svc.port | int64 }}
      targetPort: {{ $portName }}
      protocol: TCP
      {{- if eq $portName "grpc" }}
      appProtocol: kubernetes.io/h2c
      {{- end }}
    - name: metrics
      port: {{ $metricsPort | int64 }}
      targetPort: metrics
      protocol: TCP
{{- if $svc.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "rights-platform.labels" $ctx | nindent 4 }}
spec:
  {{- $min := $svc.podDisruptionBudget.minAvailable }}
  minAvailable: {{ kindIs "string" $min | ternary ($min | quote) ($min | int64) }}
  selector:
    matchLabels:
      {{- include "rights-platform.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- if $svc.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels:
    {{- include "rights-platform.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ $svc.autoscaling.minReplicas | int64 }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas | int64 }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage | int64 }}
{{- end }}
{{- if $root.Values.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $name }}
  labels:
    {{- include "rights-platform.labels" $ctx | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "rights-platform.selectorLabels" $ctx | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if .ingressFrom }}
    - ports:
        - protocol: TCP
          port: {{ $portName }}
      {{- if not (has "*" .ingressFrom) }}
      from:
        {{- range .ingressFrom }}
        - podSelector:
            matchLabels:
              {{- include "rights-platform.selectorLabels" (dict "root" $root "component" .) | nindent 14 }}
        {{- end }}
      {{- end }}
    {{- end }}
    - ports:
        - protocol: TCP
          port: metrics
      from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ $root.Values.networkPolicy.monitoringNamespace }}
  {{- if or .egressTo .egressPorts }}
  egress:
    {{- range .egressTo }}
    - ports:
        - protocol: TCP
          port: {{ (index $root.Values . "port") | int64 }}
      to:
        - podSelector:
            matchLabels:
              {{- include "rights-platform.selectorLabels" (dict "root" $root "component" .) | nindent 14 }}
    {{- end }}
    {{- with .egressPorts }}
    - ports:
        {{- range . }}
        - protocol: TCP
          port: {{ . | int64 }}
        {{- end }}
      {{- with $root.Values.networkPolicy.externalCidr }}
      to:
        - ipBlock:
            cidr: {{ . }}
      {{- end }}
    {{- end }}
  {{- else }}
  egress: []
  {{- end }}
{{- end }}
{{- end }}
