{{/* The prefix of every object's name: the release name, or release-chart. */}}
{{- define "lostromos.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lostromos.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "lostromos.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lostromos.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "lostromos.webhookName" -}}{{ include "lostromos.fullname" . }}-webhook{{- end -}}
{{- define "lostromos.controllerName" -}}{{ include "lostromos.fullname" . }}-controller{{- end -}}
{{- define "lostromos.mutatingName" -}}{{ include "lostromos.fullname" . }}-defaulting{{- end -}}
{{- define "lostromos.validatingName" -}}{{ include "lostromos.fullname" . }}-validation{{- end -}}
{{- define "lostromos.certSecret" -}}
{{- default (printf "%s-webhook-tls" (include "lostromos.fullname" .)) .Values.certs.secretName -}}
{{- end -}}

{{/* The bindings file the webhook and the controller read. */}}
{{- define "lostromos.bindingsFile" -}}
apiVersion: lostromos.dev/v1alpha1
kind: Bindings
bindings:
{{- toYaml .Values.bindings | nindent 2 }}
{{- end -}}

{{/* Restarts the pods when the bindings change. */}}
{{- define "lostromos.bindingsChecksum" -}}
{{- include "lostromos.bindingsFile" . | sha256sum -}}
{{- end -}}

{{/* The bound kinds grouped by API group: group -> list of plurals. */}}
{{- define "lostromos.boundResources" -}}
{{- $groups := dict -}}
{{- range .Values.bindings -}}
{{- $_ := set $groups .group (append (get $groups .group | default list) .plural) -}}
{{- end -}}
{{- toJson $groups -}}
{{- end -}}

{{/* Rules of the webhook configurations: exactly the bound kinds. */}}
{{- define "lostromos.webhookRules" -}}
{{- range .Values.bindings }}
- apiGroups: [{{ .group | quote }}]
  apiVersions: [{{ .version | quote }}]
  operations: ["CREATE", "UPDATE"]
  resources: [{{ .plural | quote }}]
  scope: Namespaced
{{- end }}
{{- end -}}

{{/* The webhook never sees kube-system nor its own namespace: it cannot lock the cluster. */}}
{{- define "lostromos.namespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- toYaml (concat (list "kube-system" .Release.Namespace) .Values.webhook.excludedNamespaces | uniq) | nindent 6 }}
{{- end -}}

{{/* Called with (dict "root" $ "path" "/mutate"). */}}
{{- define "lostromos.webhookClientConfig" -}}
service:
  name: {{ include "lostromos.webhookName" .root }}
  namespace: {{ .root.Release.Namespace }}
  port: 443
  path: {{ .path }}
{{- end -}}

{{/* What releasing needs where releases live: events on the bound objects,
Helm's release Secrets, and what the bound charts create. */}}
{{- define "lostromos.releaseRules" -}}
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update, patch, delete]
{{- with .Values.controller.rbac.chartResources }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The rules the controller needs where releases live. With
controller.tenancy.impersonation=required it makes no release itself: events on the
bound objects, and impersonating the ServiceAccounts the bindings name (by name; in
whatever namespace the rule applies to) so that Helm acts as them. */}}
{{- define "lostromos.namespaceRules" -}}
{{- if eq .Values.controller.tenancy.impersonation "required" -}}
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- with include "lostromos.tenantAccounts" . | fromJsonArray }}
- apiGroups: [""]
  resources: [serviceaccounts]
  resourceNames: {{ toJson . }}
  verbs: [impersonate]
{{- end }}
{{- else -}}
{{ include "lostromos.releaseRules" . }}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount names the bindings give, each once. None at all renders no
impersonate rule: an empty resourceNames would allow every ServiceAccount. */}}
{{- define "lostromos.tenantAccounts" -}}
{{- $names := list -}}
{{- range .Values.bindings -}}
{{- with .serviceAccountName -}}
{{- $names = append $names . -}}
{{- end -}}
{{- end -}}
{{- toJson ($names | uniq | sortAlpha) -}}
{{- end -}}

{{/* The webhook's budget per review: below the API server's timeout, so a review
is denied with its reason before the API server gives up on it. */}}
{{- define "lostromos.reviewSeconds" -}}
{{- $timeout := .Values.webhook.timeoutSeconds -}}
{{- $review := .Values.webhook.reviewSeconds -}}
{{- if eq (toString $review) "" -}}
{{- divf (mulf $timeout 7) 10 -}}
{{- else if ge (float64 $review) (float64 $timeout) -}}
{{- fail (printf "webhook.reviewSeconds (%v) must be below webhook.timeoutSeconds (%v)" $review $timeout) -}}
{{- else -}}
{{- $review -}}
{{- end -}}
{{- end -}}

{{/* The API server's guess of a kind's plural (meta.UnsafeGuessKindToResource); a
binding's source.resource says it when the guess is wrong. */}}
{{- define "lostromos.guessResource" -}}
{{- $lower := lower . -}}
{{- if hasSuffix "s" $lower -}}{{ $lower }}es
{{- else if regexMatch "[^aeiou]y$" $lower -}}{{ trimSuffix "y" $lower }}ies
{{- else -}}{{ $lower }}s
{{- end -}}
{{- end -}}
