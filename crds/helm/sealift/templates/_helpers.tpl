{{/* The image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "sealift.image" -}}
{{- if .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .Values.image.digest) -}}
{{- fail "image.digest must be sha256:<64 hex digits>" -}}
{{- end -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The shard whose pods serve the webhook ("" when unsharded). */}}
{{- define "sealift.webhookShard" -}}
{{- if .Values.shards -}}
{{- $s := .Values.webhook.shard | default (first .Values.shards) -}}
{{- if not (has $s .Values.shards) -}}
{{- fail (printf "webhook.shard %q is not one of shards" $s) -}}
{{- end -}}
{{- $s -}}
{{- end -}}
{{- end -}}

{{/* A file of crds/ (linked under files/) in the release's namespace. */}}
{{- define "sealift.file" -}}
{{- $f := .root.Files.Get .name -}}
{{- if not $f -}}
{{- fail (printf "%s is missing from the chart" .name) -}}
{{- end -}}
{{ $f | replace "namespace: sealift-system" (printf "namespace: %s" .root.Release.Namespace) }}
{{- end -}}
