{{/* Names and labels. */}}
{{- define "ateda.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ateda.fullname" -}}
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

{{- define "ateda.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ateda.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ateda.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ateda.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ateda
{{- end }}

{{- define "ateda.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ateda.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ateda.secretName" -}}
{{- default (printf "%s-s3" (include "ateda.fullname" .)) .Values.s3.existingSecret }}
{{- end }}

{{- define "ateda.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The source template as given (with the {{night}} placeholder), by source type. */}}
{{- define "ateda.sourceTemplate" -}}
{{- if eq .Values.source.type "pvc" }}
{{- .Values.source.pvc.path }}
{{- else if eq .Values.source.type "archive" }}
{{- .Values.source.archive.url }}
{{- else }}
{{- .Values.source.s3.uri }}
{{- end }}
{{- end }}

{{- define "ateda.staged" -}}
{{- if and (eq .Values.source.type "s3") .Values.source.s3.stage }}true{{ end }}
{{- end }}

{{/* "true" when the ingest pods serve metrics: `ateda fetch --ingest` (source.type
archive) is not given the metrics flags (see README: archive source). */}}
{{- define "ateda.ingestMetrics" -}}
{{- if and .Values.metrics.enabled (ne .Values.source.type "archive") }}true{{ end }}
{{- end }}

{{/* A scratch volume named NAME from a {type, sizeLimit, storageClassName, size} value.
Call with (dict "root" $ "name" NAME "cfg" VALUE). */}}
{{- define "ateda.scratchVolume" -}}
- name: {{ .name }}
{{- if eq .cfg.type "ephemeral" }}
  ephemeral:
    volumeClaimTemplate:
      metadata:
        labels:
          {{- include "ateda.selectorLabels" .root | nindent 10 }}
      spec:
        accessModes: ["ReadWriteOnce"]
        {{- with .cfg.storageClassName }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .cfg.size }}
{{- else }}
  emptyDir:
    sizeLimit: {{ .cfg.sizeLimit }}
{{- end }}
{{- end }}

{{/*
The pod template of an ingest run (CronJob's Jobs and the one-off Job).
Call with (dict "root" $ "night" "YYYYMMDD-or-empty").
*/}}
{{- define "ateda.podTemplate" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $staged := include "ateda.staged" $root -}}
{{- $archive := eq $v.source.type "archive" -}}
{{- $metrics := include "ateda.ingestMetrics" $root -}}
metadata:
  labels:
    {{- include "ateda.selectorLabels" $root | nindent 4 }}
    app.kubernetes.io/component: ingest
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- if and $metrics $v.metrics.annotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $v.metrics.port | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "ateda.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
  enableServiceLinks: false
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  {{- if $staged }}
  initContainers:
    - name: fetch
      image: {{ printf "%s:%s" $v.source.s3.fetchImage.repository $v.source.s3.fetchImage.tag }}
      imagePullPolicy: {{ $v.source.s3.fetchImage.pullPolicy }}
      command: ["/bin/sh", "/opt/ateda/run.sh", "fetch"]
      envFrom:
        - configMapRef:
            name: {{ include "ateda.fullname" $root }}-env
      env:
        {{- include "ateda.secretEnv" $root | nindent 8 }}
        {{- if .night }}
        - name: ATEDA_NIGHT
          value: {{ .night | quote }}
        {{- end }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      resources:
        requests:
          cpu: 100m
          memory: 256Mi
        limits:
          memory: 512Mi
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: scripts
          mountPath: /opt/ateda
          readOnly: true
        - name: staging
          mountPath: /staging
  {{- end }}
  containers:
    - name: ingest
      image: {{ include "ateda.image" $root }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      {{- if $archive }}
      # run.sh resolves the night, then execs `ateda fetch NIGHT --ingest --to /scratch ARGS...`
      # (the archive is ATEDA_ARCHIVE, the lakehouse ATEDA_CATALOG/_WAREHOUSE/_CUTOUTS).
      command: ["/bin/sh", "/opt/ateda/run.sh", "fetch-ingest"]
      args:
        - --no-progress
        {{- range $v.source.archive.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- else }}
      # run.sh resolves the night and the source, then execs `ateda ingest ARGS... SOURCE`.
      command: ["/bin/sh", "/opt/ateda/run.sh", "ingest"]
      args:
        - --no-progress
        - --summary-json
        - /tmp/summary.json
        {{- include "ateda.tuningArgs" $root | nindent 8 }}
        {{- if $v.metrics.enabled }}
        - --metrics-addr
        - {{ printf "0.0.0.0:%v" $v.metrics.port | quote }}
        - --metrics-hold
        - {{ $v.metrics.holdSeconds | int64 | quote }}
        {{- end }}
        {{- range $v.ingest.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "ateda.fullname" $root }}-env
      env:
        {{- include "ateda.secretEnv" $root | nindent 8 }}
        {{- if .night }}
        - name: ATEDA_NIGHT
          value: {{ .night | quote }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if $metrics }}
      ports:
        - name: metrics
          containerPort: {{ $v.metrics.port }}
          protocol: TCP
      {{- end }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: scripts
          mountPath: /opt/ateda
          readOnly: true
        {{- if $staged }}
        - name: staging
          mountPath: /staging
          readOnly: true
        {{- end }}
        {{- if $archive }}
        - name: scratch
          mountPath: /scratch
        {{- end }}
        {{- if eq $v.source.type "pvc" }}
        - name: landing
          mountPath: /landing
          readOnly: true
        {{- end }}
        {{- if $v.embedded.existingClaim }}
        - name: lakehouse
          mountPath: /lakehouse
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $v.tmpSizeLimit }}
    - name: scripts
      configMap:
        name: {{ include "ateda.fullname" $root }}-scripts
        defaultMode: 0555
    {{- if $staged }}
    {{- include "ateda.scratchVolume" (dict "root" $root "name" "staging" "cfg" $v.source.s3.staging) | nindent 4 }}
    {{- end }}
    {{- if $archive }}
    {{- include "ateda.scratchVolume" (dict "root" $root "name" "scratch" "cfg" $v.source.archive.scratch) | nindent 4 }}
    {{- end }}
    {{- if eq $v.source.type "pvc" }}
    - name: landing
      persistentVolumeClaim:
        claimName: {{ required "source.pvc.claimName is required when source.type=pvc" $v.source.pvc.claimName }}
        readOnly: true
    {{- end }}
    {{- if $v.embedded.existingClaim }}
    - name: lakehouse
      persistentVolumeClaim:
        claimName: {{ $v.embedded.existingClaim }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
`ateda ingest` tuning flags: one per ingest.* value that is set (not null), none otherwise,
so the binary's own defaults apply. The one table of value -> flag.
*/}}
{{- define "ateda.tuningFlags" -}}
commitEvery: --commit-every
workers: --workers
chunk: --chunk
uploads: --uploads
catalogRetrySeconds: --catalog-retry-secs
{{- end }}

{{- define "ateda.tuningArgs" -}}
{{- $flags := include "ateda.tuningFlags" . | fromYaml }}
{{- range $key := keys $flags | sortAlpha }}
{{- $value := index $.Values.ingest $key }}
{{- if not (kindIs "invalid" $value) }}
- {{ index $flags $key }}
- {{ $value | int64 | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* S3 credentials from the Secret (created here or existing). */}}
{{- define "ateda.secretEnv" -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "ateda.secretName" . }}
      key: {{ .Values.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "ateda.secretName" . }}
      key: {{ .Values.s3.secretAccessKeyKey }}
{{- end }}

{{/* Job spec shared by the CronJob's jobTemplate and the one-off Job. */}}
{{- define "ateda.jobSpec" -}}
{{- $v := .root.Values -}}
backoffLimit: {{ $v.jobSpec.backoffLimit }}
activeDeadlineSeconds: {{ $v.jobSpec.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ $v.jobSpec.ttlSecondsAfterFinished }}
podFailurePolicy:
  rules:
    {{- if $v.jobSpec.failOnQuarantine }}
    - action: FailJob
      onExitCodes:
        containerName: ingest
        operator: In
        values: [2]
    {{- end }}
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
template:
  {{- include "ateda.podTemplate" . | nindent 2 }}
{{- end }}

{{/*
Whether the CronJob is rendered ("true"/"false"): cronjob.enabled, or when it is null, exactly
when Dagster does not orchestrate the nights. Both at once would ingest every night twice.
*/}}
{{- define "ateda.cronjobEnabled" -}}
{{- $enabled := .Values.cronjob.enabled -}}
{{- $dagster := .Values.dagster.orchestrates -}}
{{- if kindIs "invalid" $enabled -}}
{{- (not $dagster) | toString -}}
{{- else if and $enabled $dagster -}}
{{- fail "cronjob.enabled=true with dagster.orchestrates=true: two orchestrators would ingest the same night (leave cronjob.enabled null, or set it false)" -}}
{{- else -}}
{{- $enabled | toString -}}
{{- end -}}
{{- end }}

{{/*
The one-off Job: its spec, and its name = <fullname>-ingest-<night>-<runId>-<hash of the
spec>. A Job's pod template is immutable: a Job whose spec changed under a fixed name makes
`helm upgrade` fail ("spec.template: field is immutable"). With the hash in the name,
unchanged values keep the same Job (nothing re-runs) and changed values replace it by a new
Job (Helm deletes the old one; the new one runs the night again, which adds nothing twice).
*/}}
{{- define "ateda.oneOffJobSpec" -}}
{{- include "ateda.jobSpec" (dict "root" . "night" (.Values.job.night | toString)) }}
{{- end }}

{{- define "ateda.oneOffJobHash" -}}
{{- printf "%s\n%v\n%v" (include "ateda.oneOffJobSpec" .) .Values.job.night .Values.job.runId | sha256sum | trunc 8 }}
{{- end }}

{{- define "ateda.oneOffJobName" -}}
{{- $prefix := printf "%s-ingest-%v-%v" (include "ateda.fullname" .) .Values.job.night .Values.job.runId | trunc 54 | trimSuffix "-" }}
{{- printf "%s-%s" $prefix (include "ateda.oneOffJobHash" .) }}
{{- end }}
