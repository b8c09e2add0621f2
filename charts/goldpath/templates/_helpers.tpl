{{/*
The chart's name, or nameOverride.
*/}}
{{- define "goldpath.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name every object of the release shares: fullnameOverride, else the
release name, with the chart's name added unless the release name has it.
*/}}
{{- define "goldpath.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "goldpath.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "goldpath.selectorLabels" -}}
app.kubernetes.io/name: {{ include "goldpath.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "goldpath.labels" -}}
helm.sh/chart: {{ include "goldpath.chart" . }}
{{ include "goldpath.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: goldpath
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "goldpath.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "goldpath.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "goldpath.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The kubernetesApply rules of values.config, each checked for the extra
`resource` field RBAC needs and for a wildcard kind. Fails the render naming
the entry.
Returns YAML: {rules: [...]} with `resource` still in.
*/}}
{{- define "goldpath.applyRules" -}}
{{- $apply := .Values.config.kubernetesApply | default dict }}
{{- $rules := list }}
{{- range $i, $rule := ($apply.allow | default list) }}
{{- if not (kindIs "map" $rule) }}
{{- fail (printf "config.kubernetesApply.allow[%d] must be a map like {apiGroup: \"\", kind: ConfigMap, resource: configmaps, namespaces: [\"*\"]}" $i) }}
{{- end }}
{{- if not $rule.kind }}
{{- fail (printf "config.kubernetesApply.allow[%d] has no kind" $i) }}
{{- end }}
{{- if not $rule.resource }}
{{- fail (printf "config.kubernetesApply.allow[%d] (apiGroup %q, kind %s) has no resource: set it to the kind's plural resource name (e.g. kind ConfigMap -> resource: configmaps, kind Pipeline -> resource: pipelines, kind \"*\" -> resource: \"*\"); the chart grants RBAC on it and leaves it out of the operator's config" $i ($rule.apiGroup | default "") $rule.kind) }}
{{- end }}
{{- if or (eq $rule.kind "*") (eq $rule.resource "*") }}
{{- fail (printf "config.kubernetesApply.allow[%d] (apiGroup %q) names every kind (\"*\"): RBAC would grant the operator every resource of the group where the rule applies (for the core group: Secrets, pods/exec, serviceaccounts/token), more than any template needs. List each kind with its resource instead" $i ($rule.apiGroup | default "")) }}
{{- end }}
{{- $rules = append $rules $rule }}
{{- end }}
{{- toYaml (dict "rules" $rules) }}
{{- end }}

{{/*
The operator's configuration file: values.config with `resource` removed from
every kubernetesApply rule (the operator refuses unknown keys).
*/}}
{{- define "goldpath.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $allow := list }}
{{- range (include "goldpath.applyRules" . | fromYaml).rules }}
{{- $allow = append $allow (omit . "resource") }}
{{- end }}
{{- $_ := set $config "kubernetesApply" (dict "allow" $allow) }}
{{- toYaml $config }}
{{- end }}

{{/*
The rules for what the operator watches and reads in the namespaces it
serves: its own resources, Events, and the objects the catalog rolls up.
*/}}
{{- define "goldpath.watchedRules" -}}
- apiGroups: [goldpath.dev]
  resources: [templates, scaffoldrequests]
  verbs: [get, list, watch, patch]
- apiGroups: [goldpath.dev]
  resources: [catalogentities]
  verbs: [get, list, watch, patch, create, delete]
# Approvals are only read: the API server records who made each one.
- apiGroups: [goldpath.dev]
  resources: [scaffoldapprovals]
  verbs: [get, list, watch]
- apiGroups: [goldpath.dev]
  resources: [templates/status, scaffoldrequests/status, catalogentities/status]
  verbs: [get, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [argoproj.io]
  resources: [applications]
  verbs: [get, list, watch]
{{- with .Values.rbac.ack.apiGroups }}
- apiGroups:
  {{- toYaml . | nindent 4 }}
  resources: ["*"]
  verbs: [get, list, watch]
{{- end }}
- apiGroups: [core.oam.dev]
  resources: [applications]
  verbs: [get, list, watch]
{{- if .Values.rbac.secretsInWatchedNamespaces }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
{{- if .Values.api.enabled }}
# The portal API's tasks (POST /v2/tasks), each written only after a
# SubjectAccessReview shows the caller may: the ScaffoldRequest (deleted
# again when its Secret cannot be written) and the Secret holding the
# task's secrets, owned by the request. Never read back through the API.
- apiGroups: [goldpath.dev]
  resources: [scaffoldrequests]
  verbs: [create, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
{{- end }}
{{- end }}
