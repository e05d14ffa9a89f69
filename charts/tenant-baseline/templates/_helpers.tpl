{{- define "tenant-baseline.labels" -}}
app.kubernetes.io/name: tenant-baseline
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
hosting.example.com/tenant: {{ .Values.team | quote }}
hosting.example.com/tier: {{ .Values.tier | quote }}
{{- end -}}

{{- define "tenant-baseline.size" -}}
{{- $size := index .Values.tiers .Values.tier -}}
{{- if not $size -}}
{{- fail (printf "tier %q has no sizes in tiers" .Values.tier) -}}
{{- end -}}
{{- toJson $size -}}
{{- end -}}
