{{- define "berth.labels" -}}
app.kubernetes.io/name: berth
app.kubernetes.io/part-of: berth
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: berth
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "berth.fullname" -}}
{{- if eq .Release.Name "berth" }}berth{{ else }}{{ printf "%s-berth" .Release.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{/* The leaderElection stanza with the namespace forced to the release's. */}}
{{- define "berth.leaderElection" -}}
{{- $le := merge (dict) (default (dict) .Values.config.leaderElection) (dict "leaderElect" true "resourceLock" "leases" "resourceName" "berth") -}}
{{- $_ := set $le "resourceNamespace" .Release.Namespace -}}
{{- toYaml $le -}}
{{- end }}

{{- define "berth.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $_ := set $cfg "leaderElection" (fromYaml (include "berth.leaderElection" .)) -}}
{{- toYaml $cfg -}}
{{- end }}

{{- define "berth.leaseName" -}}
{{- (fromYaml (include "berth.leaderElection" .)).resourceName -}}
{{- end }}
