{{- define "platform.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ateda
{{- end }}

{{/* Driver/executor settings of the maintenance SparkApplication. */}}
{{- define "platform.sparkPod" -}}
{{- $m := .Values.maintenance -}}
serviceAccount: {{ $m.serviceAccount }}
env:
  - name: AWS_REGION
    value: {{ .Values.endpoints.s3Region | quote }}
  - name: AWS_ACCESS_KEY_ID
    valueFrom:
      secretKeyRef:
        name: {{ .Values.secrets.s3Name }}
        key: AWS_ACCESS_KEY_ID
  - name: AWS_SECRET_ACCESS_KEY
    valueFrom:
      secretKeyRef:
        name: {{ .Values.secrets.s3Name }}
        key: AWS_SECRET_ACCESS_KEY
volumeMounts:
  - name: maintenance-script
    mountPath: /opt/ateda/maintenance
labels:
  app.kubernetes.io/part-of: ateda
  app.kubernetes.io/component: iceberg-maintenance
{{- end }}
