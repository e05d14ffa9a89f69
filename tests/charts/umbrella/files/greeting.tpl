{{- define "umbrella.inTpl" -}}defined inside tpl for {{ .Release.Name }}{{- end -}}
{{ include "umbrella.inTpl" . }}; team {{ .Values.team | default "none" | toString }}; {{ include "umbrella.countdown" 3 }}
