{{/*
The pod template shared by the Deployment and the StatefulSet (sharding.shards > 1).
*/}}
{{- define "wa-watchdog.podTemplate" -}}
{{- $sharded := include "wa-watchdog.sharded" . -}}
metadata:
  labels:
    {{- include "wa-watchdog.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A changed configuration (or chart-managed webhook URLs, which reach the process as an
    # environment variable) restarts the pods. The API key and the Cloud API tokens are
    # deliberately not part of it: they are files the watchdog re-reads, so rotating them
    # needs no restart.
    checksum/config: {{ include "wa-watchdog.configFile" . | sha256sum }}
    {{- if and .Values.webhooks.urls (not .Values.webhooks.existingSecret) }}
    checksum/webhooks: {{ .Values.webhooks.urls | join "," | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "wa-watchdog.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  # Service links would inject <SERVICE>_PORT variables; a Service named like "watchdog-..."
  # would put unexpected WATCHDOG_* names into the watchdog's environment.
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: watchdog
      image: {{ include "wa-watchdog.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run"]
      ports:
        - name: http
          containerPort: 9877
          protocol: TCP
      env:
        - name: WATCHDOG_CONFIG_FILE
          value: {{ include "wa-watchdog.configDir" . }}/config.yaml
        # The port the probes, the Service and the image's HEALTHCHECK use.
        - name: WATCHDOG_LISTEN
          value: "0.0.0.0:9877"
        {{- if include "wa-watchdog.hasApiKey" . }}
        # A file, not the key in an environment variable: the kubelet swaps a Secret volume's
        # files in place when the Secret changes and the watchdog re-reads the file, so key
        # rotation needs no restart.
        - name: WA_API_KEY_FILE
          value: {{ include "wa-watchdog.secretDir" . }}/api-key
        {{- end }}
        {{- if include "wa-watchdog.hasToken" .Values.cloud.accessToken }}
        # Files as well, for the same reason: a rotated token is read again without a restart.
        - name: WA_CLOUD_ACCESS_TOKEN_FILE
          value: {{ include "wa-watchdog.cloudTokenDir" . }}/access-token
        {{- end }}
        {{- if include "wa-watchdog.hasToken" .Values.cloud.appToken }}
        - name: WA_CLOUD_APP_TOKEN_FILE
          value: {{ include "wa-watchdog.cloudTokenDir" . }}/app-token
        {{- end }}
        {{- if include "wa-watchdog.hasWebhooks" . }}
        - name: WATCHDOG_WEBHOOK_URLS
          valueFrom:
            secretKeyRef:
              name: {{ include "wa-watchdog.webhookSecretName" . }}
              key: {{ .Values.webhooks.existingSecretKey }}
        {{- end }}
        {{- if $sharded }}
        # WATCHDOG_SHARD=<ordinal>/<shards>. The ordinal comes from the pod label
        # apps.kubernetes.io/pod-index, which the StatefulSet controller sets on every pod
        # (Kubernetes >= 1.28, on by default; GA in 1.32), through the downward API; the kubelet
        # expands $(POD_INDEX) in the next variable. No shell wrapper is involved, so the image's
        # ENTRYPOINT stays exec-form and signals reach the watchdog directly. Where the label is
        # missing (an older cluster), the value becomes "/<shards>" and the watchdog refuses to
        # start with a message naming WATCHDOG_SHARD, rather than silently polling every target.
        - name: POD_INDEX
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        - name: WATCHDOG_SHARD
          value: "$(POD_INDEX)/{{ int .Values.sharding.shards }}"
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /livez
          port: http
        {{- toYaml .Values.startupProbe | nindent 8 }}
      # /livez and /readyz never follow the WhatsApp API's health (only /probe/... does):
      # a failing API must not restart or unready the watchdog that reports it.
      livenessProbe:
        httpGet:
          path: /livez
          port: http
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: {{ include "wa-watchdog.configDir" . }}
          readOnly: true
        {{- if include "wa-watchdog.hasApiKey" . }}
        # The whole directory, never a subPath: subPath mounts do not receive Secret updates.
        - name: api-key
          mountPath: {{ include "wa-watchdog.secretDir" . }}
          readOnly: true
        {{- end }}
        {{- if include "wa-watchdog.hasCloudTokens" . }}
        - name: cloud-tokens
          mountPath: {{ include "wa-watchdog.cloudTokenDir" . }}
          readOnly: true
        {{- end }}
        # readOnlyRootFilesystem: the only writable place.
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "wa-watchdog.fullname" . }}
    {{- if include "wa-watchdog.hasApiKey" . }}
    - name: api-key
      secret:
        secretName: {{ include "wa-watchdog.apiKeySecretName" . }}
        defaultMode: 0440
        items:
          - key: {{ .Values.apiKey.existingSecretKey }}
            path: api-key
    {{- end }}
    {{- if include "wa-watchdog.hasCloudTokens" . }}
    # Every Cloud API token in one directory; a projected volume's files are updated in place
    # like a Secret volume's.
    - name: cloud-tokens
      projected:
        defaultMode: 0440
        sources:
          {{- with .Values.cloud.accessToken }}
          {{- if include "wa-watchdog.hasToken" . }}
          - secret:
              name: {{ .existingSecret | default (include "wa-watchdog.fullname" $) }}
              items:
                - key: {{ .existingSecretKey }}
                  path: access-token
          {{- end }}
          {{- end }}
          {{- with .Values.cloud.appToken }}
          {{- if include "wa-watchdog.hasToken" . }}
          - secret:
              name: {{ .existingSecret | default (include "wa-watchdog.fullname" $) }}
              items:
                - key: {{ .existingSecretKey }}
                  path: app-token
          {{- end }}
          {{- end }}
          {{- range $target := .Values.cloud.targets }}
          {{- with dig "accessToken" "existingSecret" "" $target }}
          - secret:
              name: {{ . }}
              items:
                - key: {{ dig "accessToken" "existingSecretKey" "access-token" $target }}
                  path: {{ include "wa-watchdog.cloudTargetTokenPath" $target }}
          {{- end }}
          {{- end }}
    {{- end }}
    - name: tmp
      {{- if .Values.tmpSizeLimit }}
      emptyDir:
        sizeLimit: {{ .Values.tmpSizeLimit }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
