{{/* Chart name, or nameOverride. */}}
{{- define "wa-watchdog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: fullnameOverride, or "<release>-<chart>" unless the release
name already contains the chart name. 63 characters at most (DNS label).
*/}}
{{- define "wa-watchdog.fullname" -}}
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

{{- define "wa-watchdog.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods; they never change after install. */}}
{{- define "wa-watchdog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wa-watchdog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "wa-watchdog.labels" -}}
helm.sh/chart: {{ include "wa-watchdog.chart" . }}
{{ include "wa-watchdog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: monitoring
app.kubernetes.io/part-of: wa-watchdog
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "wa-watchdog.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wa-watchdog.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wa-watchdog.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Is an API key configured at all (chart-managed or an existing Secret)? "true" or "". */}}
{{- define "wa-watchdog.hasApiKey" -}}
{{- if or .Values.apiKey.existingSecret .Values.apiKey.value }}true{{ end }}
{{- end }}

{{/* The Secret holding the API key. */}}
{{- define "wa-watchdog.apiKeySecretName" -}}
{{- .Values.apiKey.existingSecret | default (include "wa-watchdog.fullname" .) }}
{{- end }}

{{/* Are webhook URLs configured at all? "true" or "". */}}
{{- define "wa-watchdog.hasWebhooks" -}}
{{- if or .Values.webhooks.existingSecret .Values.webhooks.urls }}true{{ end }}
{{- end }}

{{/* The Secret holding the webhook URLs. */}}
{{- define "wa-watchdog.webhookSecretName" -}}
{{- .Values.webhooks.existingSecret | default (include "wa-watchdog.fullname" .) }}
{{- end }}

{{/* Does the chart create its own Secret (a key value or webhook URLs not in existing Secrets)? */}}
{{- define "wa-watchdog.createSecret" -}}
{{- if or (and .Values.apiKey.value (not .Values.apiKey.existingSecret)) (and .Values.webhooks.urls (not .Values.webhooks.existingSecret)) }}true{{ end }}
{{- end }}

{{/* Where the API key file is mounted; WA_API_KEY_FILE is "<dir>/api-key". */}}
{{- define "wa-watchdog.secretDir" -}}
/var/run/secrets/wa-watchdog
{{- end }}

{{- define "wa-watchdog.configDir" -}}
/etc/wa-watchdog
{{- end }}

{{/*
The watchdog's YAML configuration file: `config`, with targets, alertmanager.urls and
externalUrl set over it when given. Secrets never go here (it is a ConfigMap).
*/}}
{{- define "wa-watchdog.configFile" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- with .Values.targets }}
{{- $_ := set $config "targets" . }}
{{- end }}
{{- with .Values.alertmanager.urls }}
{{- $_ := set $config "alertmanager_urls" . }}
{{- end }}
{{- with .Values.externalUrl }}
{{- $_ := set $config "external_url" . }}
{{- end }}
{{- if $config }}
{{- toYaml $config }}
{{- else }}
{{- "{}" }}
{{- end }}
{{- end }}

{{/* Namespace of an optional object: its own setting, else the release namespace. */}}
{{- define "wa-watchdog.namespace" -}}
{{- .namespace | default .root.Release.Namespace }}
{{- end }}

{{/* Is the workload a StatefulSet (sharding)? "true" or "". */}}
{{- define "wa-watchdog.sharded" -}}
{{- if gt (int .Values.sharding.shards) 1 }}true{{ end }}
{{- end }}
