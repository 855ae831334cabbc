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

{{/* A CRD of crds/ (linked under files/crds/), as sealift.file renders it: its conversion
webhook names the sealift-webhook Service of the release's namespace. `helm uninstall` keeps it
(helm.sh/resource-policy: keep), since deleting a CRD deletes every object of its kind. Helm
renders no caBundle: the controller writes it, and would have to repair what Helm rendered. */}}
{{- define "sealift.crd" -}}
{{- $f := include "sealift.file" . -}}
{{- if not (contains "\nmetadata:\n  name: " $f) -}}
{{- fail (printf "%s: no top-level metadata.name" .name) -}}
{{- end -}}
{{- if or (contains "\n  annotations:" $f) (contains "caBundle" $f) -}}
{{- fail (printf "%s: annotations or a caBundle in a CRD of crds/ (the chart adds the one, the controller writes the other)" .name) -}}
{{- end -}}
{{ $f | replace "\nmetadata:\n" "\nmetadata:\n  annotations:\n    helm.sh/resource-policy: keep\n" }}
{{- end -}}
