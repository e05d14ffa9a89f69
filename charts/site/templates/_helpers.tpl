{{/*
The name every object of a site shares: the release name, cut to the 63
characters a Kubernetes label value and DNS label allow.
*/}}
{{- define "site.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "site.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select a site's pods; they never change over the release's life. */}}
{{- define "site.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ include "site.fullname" . }}
{{- end -}}

{{- define "site.labels" -}}
{{ include "site.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: web
app.kubernetes.io/part-of: {{ include "site.fullname" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "site.chart" . }}
{{- end -}}

{{/* An empty image.tag follows php.version, so changing PHP changes the image. */}}
{{- define "site.image" -}}
{{- $tag := .Values.image.tag | default (printf "%s-php%s-apache" .Chart.AppVersion .Values.php.version) -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{- define "site.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "site.fullname" .) | trunc 253) -}}
{{- end -}}

{{- define "site.url" -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.tls.enabled) .Values.domain -}}
{{- end -}}
