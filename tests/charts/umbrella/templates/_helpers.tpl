{{/* A countdown that includes itself: named templates may recurse. */}}
{{- define "umbrella.countdown" -}}
{{- if gt (int .) 0 -}}
{{ . }} {{ include "umbrella.countdown" (sub (int .) 1) }}
{{- else -}}
liftoff
{{- end -}}
{{- end -}}
