package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Sidecar delivery: instead of the node agent on 169.254.170.23, a native
// sidecar (an init container with restartPolicy Always, Kubernetes ≥ 1.29)
// runs `podidentity agent --pod-token-auth` inside the pod on 127.0.0.1.
const (
	// AnnotationDelivery chooses how a pod gets credentials: "sidecar",
	// or "node" (the node agent, also the way out of a sidecar namespace).
	AnnotationDelivery = "podidentity.io/delivery"
	DeliverySidecar    = "sidecar"
	DeliveryNode       = "node"

	// SidecarName is the injected init container's name.
	SidecarName = "podidentity-agent"

	// DefaultSidecarPort serves credentials on 127.0.0.1; the probes are
	// on the next port and the metrics on the one after.
	DefaultSidecarPort = 2723

	// sidecarUID is the distroless "nonroot" user.
	sidecarUID = 65532
)

// SidecarOptions enable sidecar delivery.
type SidecarOptions struct {
	// Image runs the sidecar: podidentity's own image.
	Image string
	// ClusterName and Endpoint are the agent's --cluster-name and
	// --endpoint: the podidentity server, whose cluster must set
	// podTokenAuth.
	ClusterName string
	Endpoint    string
	// Port is where credentials are served on 127.0.0.1 (default
	// DefaultSidecarPort); Port+1 serves the probes, Port+2 the metrics.
	Port int
	// Namespaces get the sidecar for every pod, unless a pod's
	// AnnotationDelivery says "node".
	Namespaces []string
}

func (s *SidecarOptions) validate() error {
	var errs []error
	if s.Image == "" {
		errs = append(errs, errors.New("sidecar image is required"))
	}
	if s.ClusterName == "" {
		errs = append(errs, errors.New("sidecar cluster name is required"))
	}
	if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("sidecar endpoint %q is not an http(s) URL", s.Endpoint))
	}
	if s.Port != 0 && (s.Port < 1 || s.Port > 65533) {
		errs = append(errs, fmt.Errorf("sidecar port %d leaves no room for its probe and metrics ports (port+1, port+2)", s.Port))
	}
	return errors.Join(errs...)
}

func (s SidecarOptions) withDefaults() SidecarOptions {
	if s.Port == 0 {
		s.Port = DefaultSidecarPort
	}
	return s
}

// CredentialsURI is the sidecar's credential endpoint, the containers'
// AWS_CONTAINER_CREDENTIALS_FULL_URI. Loopback over plain HTTP is allowed
// by every AWS SDK.
func (s SidecarOptions) CredentialsURI() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.withDefaults().Port) + "/v1/credentials"
}

// wantsSidecar decides the pod's delivery; a warning says why a request
// for a sidecar was not honoured.
func wantsSidecar(pod *corev1.Pod, opts Options, res *Result) bool {
	if _, ok := injectedSidecarURI(pod); ok {
		// Injected before (a reinvocation): containers added since must
		// be pointed at it too.
		return true
	}
	choice, set := pod.Annotations[AnnotationDelivery]
	choice = strings.TrimSpace(choice)
	switch {
	case set && choice == DeliveryNode:
		return false
	case set && choice != DeliverySidecar:
		res.warn("%s %q is not %q or %q; using the default delivery", AnnotationDelivery, clip(choice, 40), DeliverySidecar, DeliveryNode)
	}
	wanted := choice == DeliverySidecar || (opts.Sidecar != nil && slices.Contains(opts.Sidecar.Namespaces, pod.Namespace))
	if wanted && opts.Sidecar == nil {
		res.warn("%s %q: sidecar delivery is not enabled on this webhook; the node agent serves the pod", AnnotationDelivery, choice)
		return false
	}
	if wanted && pod.Spec.HostNetwork {
		// On the host network the sidecar's 127.0.0.1 is the node's: any
		// process there could bind the port first and collect the pod's
		// token, which alone buys credentials in this mode.
		res.warn("a hostNetwork pod shares the node's loopback: no sidecar is injected; the node agent serves the pod")
		return false
	}
	return wanted
}

// sidecarContainer is the agent container injected into a pod.
func sidecarContainer(s SidecarOptions) corev1.Container {
	s = s.withDefaults()
	always := corev1.ContainerRestartPolicyAlways
	port, probePort, metricsPort := s.Port, s.Port+1, s.Port+2
	no, yes := false, true
	uid := int64(sidecarUID)
	return corev1.Container{
		Name:            SidecarName,
		Image:           s.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args: []string{"agent", "--pod-token-auth",
			"--cluster-name", s.ClusterName, "--endpoint", s.Endpoint,
			"--bind-hosts", "127.0.0.1", "--port", strconv.Itoa(port),
			// The kubelet probes the pod's IP, not its loopback: the
			// probe port (healthz/readyz, nothing secret) listens on
			// every address, credentials and metrics on 127.0.0.1 only.
			"--probe-address", "0.0.0.0", "--probe-port", strconv.Itoa(probePort),
			"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(metricsPort),
			"--log-format", "json"},
		Env: []corev1.EnvVar{
			// One pod's tokens need little: keep the Go heap near it.
			{Name: "GOMEMLIMIT", Value: "32MiB"},
			{Name: "GOMAXPROCS", Value: "1"},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")},
		},
		RestartPolicy: &always,
		// /healthz answers once every credential listener is bound (the
		// agent binds them all before serving probes), so the app starts
		// only when 127.0.0.1:port accepts. Not /readyz: a pod whose
		// server is down should start and get the agent's clear errors.
		StartupProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/healthz", Port: intstr.FromInt32(int32(probePort)),
			}},
			PeriodSeconds:    1,
			FailureThreshold: 30,
			TimeoutSeconds:   1,
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             &yes,
			RunAsUser:                &uid,
			RunAsGroup:               &uid,
			AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem:   &yes,
			Privileged:               &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// injectedSidecarURI is the credential URI of a sidecar already in the pod,
// read from its --port, so that a reinvocation points containers added
// since at the sidecar the pod has, whatever the webhook's options now.
func injectedSidecarURI(pod *corev1.Pod) (string, bool) {
	for _, c := range pod.Spec.InitContainers {
		if c.Name != SidecarName {
			continue
		}
		port := DefaultSidecarPort
		for i, a := range c.Args {
			if a == "--port" && i+1 < len(c.Args) {
				if p, err := strconv.Atoi(c.Args[i+1]); err == nil {
					port = p
				}
			}
		}
		return SidecarOptions{Port: port}.CredentialsURI(), true
	}
	return "", false
}
