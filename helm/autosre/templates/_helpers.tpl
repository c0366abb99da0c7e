{{/* The labels that select one model's pods. */}}
{{- define "autosre.selectorLabels" -}}
app.kubernetes.io/name: autosred-model
autosred.io/recipe: {{ .recipe | quote }}
{{- end }}

{{/* Every label of a model's objects (the daemon renders the same). */}}
{{- define "autosre.labels" -}}
{{ include "autosre.selectorLabels" . }}
app.kubernetes.io/managed-by: autosred
{{- end }}

{{/* The vLLM health probe; call with (dict "port" P "period" S "failures" N). */}}
{{- define "autosre.probe" -}}
httpGet:
  path: /health
  port: {{ .port }}
  scheme: HTTP
periodSeconds: {{ .period }}
timeoutSeconds: 2
successThreshold: 1
failureThreshold: {{ .failures }}
{{- end }}
