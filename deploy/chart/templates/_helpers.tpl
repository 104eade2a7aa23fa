{{/*
Names. Object names are "<fullname>-<component>"; the fullname is cut to 52 characters so
the longest suffix ("-migrate") still fits the 63 characters of a label value and DNS label.
*/}}
{{- define "baas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "baas.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "baas.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "baas.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The web pods' ServiceAccount: read-only rights (node logs), never the driver's. */}}
{{- define "baas.webServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-web" (include "baas.fullname" .)) .Values.serviceAccount.webName -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.webName -}}
{{- end -}}
{{- end -}}

{{/* The driver's identity as the API server names it (the admission policy matches it). */}}
{{- define "baas.driverUsername" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "baas.serviceAccountName" .) -}}
{{- end -}}

{{- define "baas.webServiceName" -}}
{{- printf "%s-web" (include "baas.fullname" .) -}}
{{- end -}}

{{/* Labels on every object; selectors use only the stable subset (baas.selectorLabels). */}}
{{- define "baas.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "baas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: baas
{{- end -}}

{{/* Call with (dict "ctx" $ "component" "web"). */}}
{{- define "baas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "baas.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "baas.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
Host names Django answers to: the configured ones, every ingress host, and the web Service's
in-cluster names (the probes send one of those as Host, since a pod IP is never allowed).
*/}}
{{- define "baas.allowedHosts" -}}
{{- $svc := include "baas.webServiceName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := concat .Values.config.allowedHosts .Values.ingress.hosts (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns)) -}}
{{- join "," (uniq $hosts) -}}
{{- end -}}

{{- define "baas.probeHost" -}}
{{- printf "%s.%s.svc" (include "baas.webServiceName" .) .Release.Namespace -}}
{{- end -}}

{{/*
Where Secret keys are mounted (one projected volume, read-only). The environment only holds
these paths; the settings read the files (baas/settings.py read_secret and url_setting).
*/}}
{{- define "baas.secretsDir" -}}/run/secrets/baas{{- end -}}

{{/*
The kubeconfig Secret a component mounts, as (dict "secret" "key"), empty for none: the worker
gets the driver's (write) kubeconfig, the web pods the read-only one for node logs, beat and
migrations none (they never call the Kubernetes API). Call with (dict "ctx" $ "component" c).
*/}}
{{- define "baas.kubeconfigSource" -}}
{{- $kc := .ctx.Values.kubernetes.kubeconfig -}}
{{- if and (eq .component "worker") $kc.existingSecret -}}
{{- dict "secret" $kc.existingSecret "key" $kc.key "context" $kc.context | toJson -}}
{{- else if and (eq .component "web") $kc.webExistingSecret -}}
{{- dict "secret" $kc.webExistingSecret "key" $kc.webKey "context" "" | toJson -}}
{{- else -}}
{{- dict | toJson -}}
{{- end -}}
{{- end -}}

{{/*
Environment of every container: non-secret settings and the paths of the secret files.
Secret names and URLs with credentials are refused in config.extraEnv, so a value meant
for a Secret cannot end up in the pod spec by mistake. Call with (dict "ctx" $ "component" c).
*/}}
{{- define "baas.env" -}}
{{- $kubeconfig := include "baas.kubeconfigSource" . | fromJson -}}
{{- with .ctx -}}
{{- $dir := include "baas.secretsDir" . -}}
- name: BAAS_ENV
  value: production
# The writable emptyDir (the root file system is read-only).
- name: BAAS_VAR_DIR
  value: /var/lib/baas
- name: BAAS_ALLOWED_HOSTS
  value: {{ include "baas.allowedHosts" . | quote }}
{{- $publicUrl := .Values.config.publicUrl -}}
{{- if and (not $publicUrl) .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $publicUrl = printf "https://%s" (first .Values.ingress.hosts) -}}
{{- end }}
{{- if $publicUrl }}
- name: BAAS_PUBLIC_URL
  value: {{ $publicUrl | quote }}
{{- end }}
- name: BAAS_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: BAAS_TRUST_X_FORWARDED_PROTO
  value: {{ .Values.config.trustForwardedProto | quote }}
- name: BAAS_TRUST_X_FORWARDED_FOR
  value: {{ .Values.config.trustForwardedFor | quote }}
- name: BAAS_HSTS_SECONDS
  value: {{ .Values.config.hstsSeconds | quote }}
- name: BAAS_INSTALL_ID
  value: {{ default .Release.Name .Values.installId | quote }}
- name: BAAS_EMAIL_HOST
  value: {{ .Values.email.host | quote }}
- name: BAAS_EMAIL_PORT
  value: {{ .Values.email.port | quote }}
- name: BAAS_EMAIL_HOST_USER
  value: {{ .Values.email.user | quote }}
- name: BAAS_EMAIL_USE_TLS
  value: {{ .Values.email.useTls | quote }}
{{- if .Values.email.from }}
- name: BAAS_DEFAULT_FROM_EMAIL
  value: {{ .Values.email.from | quote }}
{{- end }}
{{- if .Values.email.password.existingSecret }}
- name: BAAS_EMAIL_HOST_PASSWORD_FILE
  value: {{ printf "%s/email-password" $dir | quote }}
{{- end }}
- name: BAAS_SECRET_KEY_FILE
  value: {{ printf "%s/secret-key" $dir | quote }}
- name: BAAS_NODE_KEYS_KEY_FILE
  value: {{ printf "%s/node-keys-key" $dir | quote }}
- name: DATABASE_URL_FILE
  value: {{ printf "%s/database-url" $dir | quote }}
- name: REDIS_URL_FILE
  value: {{ printf "%s/redis-url" $dir | quote }}
{{- if .Values.redis.cacheUrlKey }}
- name: BAAS_CACHE_URL_FILE
  value: {{ printf "%s/cache-url" $dir | quote }}
{{- end }}
- name: BAAS_KUBE_NODE_IMAGE
  value: {{ .Values.kubernetes.nodeImage | quote }}
- name: BAAS_KUBE_STORAGE_GB
  value: {{ .Values.kubernetes.storageGb | quote }}
- name: BAAS_KUBE_CONTROL_PLANE_NAMESPACE
  value: {{ default .Release.Namespace .Values.kubernetes.controlPlaneNamespace | quote }}
{{- if .Values.kubernetes.storageClass }}
- name: BAAS_KUBE_STORAGE_CLASS
  value: {{ .Values.kubernetes.storageClass | quote }}
{{- end }}
{{- if .Values.kubernetes.readyTimeout }}
- name: BAAS_KUBE_READY_TIMEOUT
  value: {{ .Values.kubernetes.readyTimeout | quote }}
{{- end }}
{{- if $kubeconfig.secret }}
- name: BAAS_KUBE_KUBECONFIG
  value: {{ printf "%s/kubeconfig" $dir | quote }}
{{- if $kubeconfig.context }}
- name: BAAS_KUBE_CONTEXT
  value: {{ $kubeconfig.context | quote }}
{{- end }}
{{- end }}
# The kubernetes client writes a kubeconfig's client key and CA to temporary files: /tmp is
# memory (baas.volumes), so decrypted keys never reach a disk.
- name: TMPDIR
  value: /tmp
{{- range $name, $value := .Values.config.extraEnv }}
{{- if regexMatch "(?i)(PASSWORD|SECRET|TOKEN|CREDENTIAL|^DATABASE_URL$|^REDIS_URL$|^BAAS_CACHE_URL$)" $name }}
{{- if not (hasSuffix "_FILE" $name) }}
{{- fail (printf "config.extraEnv.%s looks like a secret: put it in a Secret and mount it as a file (docs/chart.md)" $name) }}
{{- end }}
{{- end }}
{{- if regexMatch "://[^/@\\s]*:[^/@\\s]*@" (toString $value) }}
{{- fail (printf "config.extraEnv.%s holds a URL with a password: put it in a Secret (docs/chart.md)" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The projected volume of Secret keys; each key becomes one file under baas.secretsDir.
Call with (dict "ctx" $ "component" c). */}}
{{- define "baas.secretsVolume" -}}
{{- $kubeconfig := include "baas.kubeconfigSource" . | fromJson -}}
{{- with .ctx -}}
- name: secrets
  projected:
    # Readable by the pod's group (fsGroup) only, never world-readable.
    defaultMode: 0440
    sources:
      - secret:
          name: {{ .Values.secretKey.existingSecret }}
          items: [{key: {{ .Values.secretKey.key | quote }}, path: secret-key}]
      - secret:
          name: {{ .Values.nodeKeysKey.existingSecret }}
          items: [{key: {{ .Values.nodeKeysKey.key | quote }}, path: node-keys-key}]
      - secret:
          name: {{ .Values.database.existingSecret }}
          items: [{key: {{ .Values.database.urlKey | quote }}, path: database-url}]
      - secret:
          name: {{ .Values.redis.existingSecret }}
          items:
            - {key: {{ .Values.redis.urlKey | quote }}, path: redis-url}
            {{- if .Values.redis.cacheUrlKey }}
            - {key: {{ .Values.redis.cacheUrlKey | quote }}, path: cache-url}
            {{- end }}
      {{- if .Values.email.password.existingSecret }}
      - secret:
          name: {{ .Values.email.password.existingSecret }}
          items: [{key: {{ .Values.email.password.key | quote }}, path: email-password}]
      {{- end }}
      {{- if $kubeconfig.secret }}
      - secret:
          name: {{ $kubeconfig.secret }}
          items: [{key: {{ $kubeconfig.key | quote }}, path: kubeconfig}]
      {{- end }}
{{- end }}
{{- end -}}

{{/* Volumes of every pod: the secrets, and scratch space for the read-only root fs.
/tmp is memory (tmpfs): the kubernetes client writes the client keys of a kubeconfig there,
decrypted, and keeps them until the process exits; in memory they never reach a node's
disk and go with the pod. What /tmp holds counts against the container's memory limit.
Call with (dict "ctx" $ "component" c). */}}
{{- define "baas.volumes" -}}
{{ include "baas.secretsVolume" . }}
{{- with .ctx }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.scratch.tmpSizeLimit }}
- name: var
  emptyDir:
    sizeLimit: {{ .Values.scratch.varSizeLimit }}
{{- end }}
{{- end -}}

{{- define "baas.volumeMounts" -}}
- name: secrets
  mountPath: {{ include "baas.secretsDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: var
  mountPath: /var/lib/baas
{{- end -}}

{{/* The image's unprivileged user (deploy/images/control-plane/Dockerfile). */}}
{{- define "baas.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "baas.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Scheduling and metadata shared by every pod template. */}}
{{- define "baas.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}
