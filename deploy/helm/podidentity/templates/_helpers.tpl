{{/* Names: every object is "<release>-<component>", cut to 63 characters. */}}
{{- define "podidentity.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podidentity.server" -}}{{ include "podidentity.fullname" . }}-server{{- end -}}
{{- define "podidentity.agent" -}}{{ include "podidentity.fullname" . }}-agent{{- end -}}
{{- define "podidentity.webhook" -}}{{ include "podidentity.fullname" . }}-webhook{{- end -}}
{{- define "podidentity.credentialsSecret" -}}
{{- .Values.apiCredentials.existingSecret | default (printf "%s-api-credentials" (include "podidentity.fullname" .)) -}}
{{- end -}}

{{- define "podidentity.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: include with (list . "server"). */}}
{{- define "podidentity.selector" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* "true" when the server stores its data in PostgreSQL, else empty. */}}
{{- define "podidentity.postgres" -}}
{{- if eq .Values.server.storage.type "postgres" }}true{{ end -}}
{{- end -}}

{{- define "podidentity.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "podidentity.clusterName" -}}
{{- required "clusterName is required: the cluster's name in podidentity" .Values.clusterName -}}
{{- end -}}

{{/* The URL the webhook and the agents reach the server at. */}}
{{- define "podidentity.serverURL" -}}
http://{{ include "podidentity.server" . }}.{{ .Release.Namespace }}.svc:{{ .Values.server.port }}
{{- end -}}

{{/* The restricted security context every podidentity container runs with. */}}
{{- define "podidentity.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
