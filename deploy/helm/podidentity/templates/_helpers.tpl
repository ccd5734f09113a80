{{/* Names: every object is "<release>-<component>", cut to 63 characters. */}}
{{- define "podidentity.fullname" -}}
{{- $chart := .Values.nameOverride | default .Chart.Name -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains $chart .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $chart | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podidentity.server" -}}{{ include "podidentity.fullname" . }}-server{{- end -}}
{{- define "podidentity.agent" -}}{{ include "podidentity.fullname" . }}-agent{{- end -}}
{{- define "podidentity.webhook" -}}{{ include "podidentity.fullname" . }}-webhook{{- end -}}
{{- define "podidentity.credentialsSecret" -}}
{{- .Values.apiCredentials.existingSecret | default (printf "%s-api-credentials" (include "podidentity.fullname" .)) -}}
{{- end -}}

{{- define "podidentity.labels" -}}
app.kubernetes.io/name: {{ .Values.nameOverride | default .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: include with (list . "server"). */}}
{{- define "podidentity.selector" -}}
app.kubernetes.io/name: {{ (index . 0).Values.nameOverride | default (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* "true" when the server stores its data in PostgreSQL, else empty. */}}
{{- define "podidentity.postgres" -}}
{{- if eq .Values.server.storage.type "postgres" }}true{{ end -}}
{{- end -}}

{{- define "podidentity.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end -}}
{{- end -}}

{{/* "true" when the webhook's certificate comes from cert-manager, else empty. */}}
{{- define "podidentity.certManager" -}}
{{- $want := .Values.webhook.certificate.certManager -}}
{{- if eq (toString $want) "auto" -}}
{{- if .Capabilities.APIVersions.Has "cert-manager.io/v1/Certificate" }}true{{ end -}}
{{- else if $want }}true{{ end -}}
{{- end -}}

{{- define "podidentity.adminSecret" -}}
{{- .Values.server.admin.existingSecret | default (printf "%s-admin" (include "podidentity.fullname" .)) -}}
{{- end -}}

{{- define "podidentity.clusterName" -}}
{{- required "clusterName is required: the cluster's name in podidentity" .Values.clusterName -}}
{{- end -}}

{{/* The URL the webhook and the agents reach the server at. */}}
{{- define "podidentity.serverURL" -}}
{{- if .Values.serverURL -}}
{{ trimSuffix "/" .Values.serverURL }}
{{- else -}}
http://{{ include "podidentity.server" . }}.{{ .Release.Namespace }}.svc:{{ .Values.server.port }}
{{- end -}}
{{- end -}}



{{/* The addresses the agent serves on. */}}
{{- define "podidentity.agentHosts" -}}
{{- if .Values.agent.ipv6 }}169.254.170.23,fd00:ec2::23{{ else }}169.254.170.23{{ end -}}
{{- end -}}

{{/* The ServiceAccount a component runs as: include with (list . "server"). */}}
{{- define "podidentity.serviceAccountName" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $sa := (index $root.Values $component).serviceAccount -}}
{{- if $sa.create -}}
{{- $sa.name | default (printf "%s-%s" (include "podidentity.fullname" $root) $component) -}}
{{- else -}}
{{- $sa.name | default "default" -}}
{{- end -}}
{{- end -}}
