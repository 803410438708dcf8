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

{{/*
Does the chart create its own Secret (a key, token or webhook URLs given as values, not in
existing Secrets)?
*/}}
{{- define "wa-watchdog.createSecret" -}}
{{- $cloud := .Values.cloud -}}
{{- if or (and .Values.apiKey.value (not .Values.apiKey.existingSecret)) (and .Values.webhooks.urls (not .Values.webhooks.existingSecret)) (and $cloud.accessToken.value (not $cloud.accessToken.existingSecret)) (and $cloud.appToken.value (not $cloud.appToken.existingSecret)) }}true{{ end }}
{{- end }}

{{/* Where the API key file is mounted; WA_API_KEY_FILE is "<dir>/api-key". */}}
{{- define "wa-watchdog.secretDir" -}}
/var/run/secrets/wa-watchdog
{{- end }}

{{- define "wa-watchdog.configDir" -}}
/etc/wa-watchdog
{{- end }}

{{/*
Where the Cloud API tokens are mounted (one projected volume): "access-token" and "app-token"
(WA_CLOUD_ACCESS_TOKEN_FILE, WA_CLOUD_APP_TOKEN_FILE), and "targets/<target>/access-token" for
a cloud.targets entry with its own Secret. A sibling of secretDir: a Secret volume is
read-only, so one cannot be mounted inside the other.
*/}}
{{- define "wa-watchdog.cloudTokenDir" -}}
/var/run/secrets/wa-watchdog-cloud
{{- end }}

{{/* A token setting (cloud.accessToken, cloud.appToken) given at all? "true" or "". */}}
{{- define "wa-watchdog.hasToken" -}}
{{- if or .existingSecret .value }}true{{ end }}
{{- end }}

{{/* The path of a cloud.targets entry's own token, relative to cloudTokenDir. */}}
{{- define "wa-watchdog.cloudTargetTokenPath" -}}
{{- printf "targets/%s/access-token" (toString (.name | default .phoneNumberId)) }}
{{- end }}

{{/* Is anything mounted from cloudTokenDir? "true" or "". */}}
{{- define "wa-watchdog.hasCloudTokens" -}}
{{- $own := false }}
{{- range .Values.cloud.targets }}
{{- if dig "accessToken" "existingSecret" "" . }}{{ $own = true }}{{ end }}
{{- end }}
{{- if or $own (include "wa-watchdog.hasToken" .Values.cloud.accessToken) (include "wa-watchdog.hasToken" .Values.cloud.appToken) }}true{{ end }}
{{- end }}

{{/*
The config file's `targets` entry for one cloud.targets entry (camelCase values, the config
file's snake_case keys), as YAML.
*/}}
{{- define "wa-watchdog.cloudTarget" -}}
{{- $t := .target -}}
{{- $entry := dict "kind" "cloud" "phone_number_id" (toString $t.phoneNumberId) -}}
{{- $keys := dict "name" "name" "wabaId" "waba_id" "url" "url" "healthInterval" "health_interval" "wabaInterval" "waba_interval" "tokenInterval" "token_interval" "timeout" "timeout" "labels" "labels" -}}
{{- range $from, $to := $keys }}
{{- if hasKey $t $from }}
{{- $_ := set $entry $to (get $t $from) }}
{{- end }}
{{- end }}
{{- if dig "accessToken" "existingSecret" "" $t }}
{{- $_ := set $entry "access_token_file" (printf "%s/%s" (include "wa-watchdog.cloudTokenDir" .root) (include "wa-watchdog.cloudTargetTokenPath" $t)) }}
{{- end }}
{{- toYaml $entry }}
{{- end }}

{{/*
The targets as the config file lists them: `targets`, then cloud.targets; with neither, those
of `config` (a list, possibly empty).
*/}}
{{- define "wa-watchdog.targets" -}}
{{- $targets := list }}
{{- range .Values.targets }}
{{- $targets = append $targets . }}
{{- end }}
{{- range .Values.cloud.targets }}
{{- $targets = append $targets (include "wa-watchdog.cloudTarget" (dict "target" . "root" $) | fromYaml) }}
{{- end }}
{{- if not $targets }}
{{- $targets = (.Values.config | default dict).targets | default list }}
{{- end }}
{{- toYaml (dict "targets" $targets) }}
{{- end }}

{{/* Is a target of kind cloud (as the watchdog reads `kind`: trimmed, any case)? */}}
{{- define "wa-watchdog.isCloud" -}}
{{- if and (kindIs "map" .) (eq (lower (trim (toString (get . "kind")))) "cloud") }}true{{ end }}
{{- end }}

{{/* Are there Cloud API targets? "true" or "". */}}
{{- define "wa-watchdog.hasCloudTargets" -}}
{{- range (include "wa-watchdog.targets" . | fromYaml).targets }}
{{- if include "wa-watchdog.isCloud" . }}true{{ end }}
{{- end }}
{{- end }}

{{/* Are there On-Premises targets? "true" or "". */}}
{{- define "wa-watchdog.hasOnpremTargets" -}}
{{- range (include "wa-watchdog.targets" . | fromYaml).targets }}
{{- if not (include "wa-watchdog.isCloud" .) }}true{{ end }}
{{- end }}
{{- end }}

{{/* Names of the Cloud API targets that have no token file of their own, comma-separated. */}}
{{- define "wa-watchdog.cloudTargetsWithoutToken" -}}
{{- $names := list }}
{{- range (include "wa-watchdog.targets" . | fromYaml).targets }}
{{- if and (include "wa-watchdog.isCloud" .) (not .access_token_file) }}
{{- $names = append $names (toString (.name | default .phone_number_id)) }}
{{- end }}
{{- end }}
{{- join ", " $names }}
{{- end }}

{{/*
The watchdog's YAML configuration file: `config`, with targets (`targets` and cloud.targets),
cloud.graphVersion, alertmanager.urls and externalUrl set over it when given. Secrets never go
here (it is a ConfigMap): token files are mounted, and only their paths are written.
*/}}
{{- define "wa-watchdog.configFile" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- with (include "wa-watchdog.targets" . | fromYaml).targets }}
{{- $_ := set $config "targets" . }}
{{- end }}
{{- with .Values.cloud.graphVersion }}
{{- $_ := set $config "graph_version" . }}
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
