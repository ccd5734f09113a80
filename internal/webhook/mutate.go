package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// What EKS injects, byte for byte: SDKs and the agent look for exactly these.
const (
	// CredentialsURIIPv4 is the node agent's address on IPv4 and dual-stack clusters.
	CredentialsURIIPv4 = "http://169.254.170.23/v1/credentials"
	// CredentialsURIIPv6 is the node agent's address on IPv6-only clusters.
	CredentialsURIIPv6 = "http://[fd00:ec2::23]/v1/credentials"

	EnvCredentialsURI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvTokenFile      = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"

	VolumeName = "eks-pod-identity-token"
	MountPath  = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
	// TokenPath is the token's file name inside the volume.
	TokenPath = "eks-pod-identity-token"
	TokenFile = MountPath + "/" + TokenPath

	// AnnotationSkipContainers lists, comma-separated, the containers and
	// init containers to leave alone.
	AnnotationSkipContainers = "eks.amazonaws.com/skip-containers"
	// AnnotationTokenExpiration sets the token's expirationSeconds.
	AnnotationTokenExpiration = "eks.amazonaws.com/token-expiration"

	// DefaultTokenExpiration is EKS's: kubelet renews the token after 80%
	// of it, about every 19 hours.
	DefaultTokenExpiration = 86400
	// MinTokenExpiration and MaxTokenExpiration are the bounds Kubernetes
	// validation puts on a projected token's expirationSeconds; a value
	// outside them would make the API server refuse the whole pod.
	MinTokenExpiration = 600
	MaxTokenExpiration = 1 << 32
)

// Options configure Mutate. The zero value injects what EKS injects on an
// IPv4 cluster.
type Options struct {
	// CredentialsURI is the value of AWS_CONTAINER_CREDENTIALS_FULL_URI;
	// empty means CredentialsURIIPv4.
	CredentialsURI string
	// TokenExpiration is the token's expirationSeconds when the pod does
	// not choose one; zero means DefaultTokenExpiration.
	TokenExpiration int64
	// Sidecar, when set, enables sidecar delivery for the pods that ask
	// for it (AnnotationDelivery) and those in Sidecar.Namespaces.
	Sidecar *SidecarOptions
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.CredentialsURI != "" {
		u, err := url.Parse(o.CredentialsURI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("credentials URI %q is not an http(s) URL", o.CredentialsURI))
		}
	}
	if o.TokenExpiration != 0 && (o.TokenExpiration < MinTokenExpiration || o.TokenExpiration > MaxTokenExpiration) {
		errs = append(errs, fmt.Errorf("token expiration %d s is outside Kubernetes' range [%d, %d]",
			o.TokenExpiration, MinTokenExpiration, int64(MaxTokenExpiration)))
	}
	if o.Sidecar != nil {
		if err := o.Sidecar.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.CredentialsURI == "" {
		o.CredentialsURI = CredentialsURIIPv4
	}
	if o.TokenExpiration == 0 {
		o.TokenExpiration = DefaultTokenExpiration
	}
	return o
}

// Operation is one RFC 6902 JSON Patch operation. Mutate only adds.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Result is what Mutate decided.
type Result struct {
	// Patch is empty when the pod is to be left as it is.
	Patch []Operation
	// Injected names the containers given credentials, init containers first.
	Injected []string
	// Warnings say why the pod, or some of its containers, got less than
	// the full injection, or which annotation value was corrected; the
	// handler returns them to the client (kubectl prints them).
	Warnings []string
}

// Mutate returns the patch that gives pod's containers EKS Pod Identity
// credentials, as EKS does on pod creation. It assumes the pod's service
// account has an association: deciding that is the caller's job.
//
// Every container and init container gets the two environment variables
// and a read-only mount of the token volume, except those named in the
// skip-containers annotation and those that already set either variable
// (so running Mutate on its own output adds nothing: the webhook is safe to
// reinvoke). A container that already mounts something else at MountPath
// is left alone, since a second mount there would make the pod invalid;
// a pod with a volume named VolumeName that is not the token volume is left
// alone entirely. The volume is added only when some container uses it.
//
// With sidecar delivery (opts.Sidecar, for pods annotated
// podidentity.io/delivery: sidecar or in a listed namespace) the variable
// points at 127.0.0.1 instead, and the agent is added as the first init
// container with restartPolicy Always, once: a pod that has it keeps it.
//
// The patch only adds, and appends to lists that exist, so it is as small
// as it can be and applies cleanly even to fields this version of the
// Kubernetes API does not know.
func Mutate(pod *corev1.Pod, opts Options) (*Result, error) {
	if pod == nil {
		return nil, errors.New("webhook: no pod to mutate")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	opts = opts.withDefaults()
	res := &Result{}

	haveVolume := false
	for _, v := range pod.Spec.Volumes {
		if v.Name != VolumeName {
			continue
		}
		if !isTokenVolume(v) {
			res.warn("volume %q exists and is not the pod identity token; pod left unchanged", VolumeName)
			return res, nil
		}
		haveVolume = true
	}

	skip := skipList(pod.Annotations[AnnotationSkipContainers])
	// The sidecar itself needs neither variable nor the token: the pod's
	// SDKs send it the token, it sends that on to EKS Auth.
	skip[SidecarName] = true
	uri := opts.CredentialsURI
	sidecar := wantsSidecar(pod, opts, res)
	injected, haveSidecar := injectedSidecarURI(pod)
	switch {
	case haveSidecar:
		uri = injected
	case sidecar:
		uri = opts.Sidecar.CredentialsURI()
	}
	env := []corev1.EnvVar{
		{Name: EnvCredentialsURI, Value: uri},
		{Name: EnvTokenFile, Value: TokenFile},
	}
	mount := corev1.VolumeMount{Name: VolumeName, MountPath: MountPath, ReadOnly: true}

	var containerOps []Operation
	for _, group := range []struct {
		field      string
		containers []corev1.Container
	}{
		{"initContainers", pod.Spec.InitContainers},
		{"containers", pod.Spec.Containers},
	} {
		for i := range group.containers {
			c := &group.containers[i]
			if skip[c.Name] || setsCredentials(c) {
				continue
			}
			mounted, conflict := tokenMount(c)
			if conflict {
				res.warn("container %q mounts another volume at the token's path; not given credentials", c.Name)
				continue
			}
			base := "/spec/" + group.field + "/" + strconv.Itoa(i)
			containerOps = appendItems(containerOps, base+"/env", len(c.Env) == 0, env...)
			if !mounted {
				containerOps = appendItems(containerOps, base+"/volumeMounts", len(c.VolumeMounts) == 0, mount)
			}
			res.Injected = append(res.Injected, c.Name)
		}
	}
	if len(res.Injected) == 0 {
		return res, nil
	}
	if !haveVolume {
		expiration := tokenExpiration(pod.Annotations, opts.TokenExpiration, res)
		res.Patch = appendItems(res.Patch, "/spec/volumes", len(pod.Spec.Volumes) == 0, tokenVolume(expiration))
	}
	res.Patch = append(res.Patch, containerOps...)
	if sidecar && !haveSidecar {
		// First, so that it starts (and its startup probe passes) before
		// every other init container and container; inserted after the
		// operations above, whose indices count the pod's own containers.
		c := sidecarContainer(*opts.Sidecar)
		if len(pod.Spec.InitContainers) == 0 {
			res.Patch = append(res.Patch, Operation{Op: "add", Path: "/spec/initContainers", Value: []corev1.Container{c}})
		} else {
			res.Patch = append(res.Patch, Operation{Op: "add", Path: "/spec/initContainers/0", Value: c})
		}
	}
	return res, nil
}

func (r *Result) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, "podidentity: "+fmt.Sprintf(format, args...))
}

// appendItems adds items at the end of the list at path: with one add of
// the whole list when it is empty (a JSON Patch cannot append to a list
// that is absent), else one add per item at "-", the end of the list.
func appendItems[T any](ops []Operation, path string, empty bool, items ...T) []Operation {
	if empty {
		return append(ops, Operation{Op: "add", Path: path, Value: items})
	}
	for _, it := range items {
		ops = append(ops, Operation{Op: "add", Path: path + "/-", Value: it})
	}
	return ops
}

func tokenVolume(expiration int64) corev1.Volume {
	return corev1.Volume{
		Name: VolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          podidentity.Audience,
				ExpirationSeconds: &expiration,
				Path:              TokenPath,
			}}},
		}},
	}
}

// isTokenVolume reports whether v is a pod identity token volume, ours or
// one that puts the token where the injected variable says it is.
func isTokenVolume(v corev1.Volume) bool {
	if v.Projected == nil {
		return false
	}
	for _, s := range v.Projected.Sources {
		if t := s.ServiceAccountToken; t != nil && t.Audience == podidentity.Audience && path.Clean(t.Path) == TokenPath {
			return true
		}
	}
	return false
}

// setsCredentials reports whether the container sets either variable
// itself, in which case its owner has decided and EKS leaves it alone.
func setsCredentials(c *corev1.Container) bool {
	for _, e := range c.Env {
		if e.Name == EnvCredentialsURI || e.Name == EnvTokenFile {
			return true
		}
	}
	return false
}

// tokenMount reports whether the container already mounts the token volume
// at MountPath, or mounts something else there.
func tokenMount(c *corev1.Container) (mounted, conflict bool) {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != MountPath {
			continue
		}
		if m.Name == VolumeName && m.SubPath == "" && m.SubPathExpr == "" {
			mounted = true
		} else {
			conflict = true
		}
	}
	return mounted, conflict
}

func skipList(s string) map[string]bool {
	skip := map[string]bool{}
	for name := range strings.SplitSeq(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			skip[name] = true
		}
	}
	return skip
}

// tokenExpiration reads the pod's token-expiration annotation. As EKS does,
// a value outside Kubernetes' range is brought within it rather than
// refused; unlike EKS, the pod's creator is told.
func tokenExpiration(annotations map[string]string, def int64, res *Result) int64 {
	s, ok := annotations[AnnotationTokenExpiration]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		res.warn("%s %q is not a number of seconds; using %d", AnnotationTokenExpiration, clip(s, 40), def)
		return def
	}
	// Out of int64's range, ParseInt returns its nearest bound, which
	// the checks below then clamp.
	switch {
	case n < MinTokenExpiration:
		res.warn("%s %q is below Kubernetes' minimum; using %d", AnnotationTokenExpiration, clip(s, 40), MinTokenExpiration)
		return MinTokenExpiration
	case n > MaxTokenExpiration:
		res.warn("%s %q is above Kubernetes' maximum; using %d", AnnotationTokenExpiration, clip(s, 40), int64(MaxTokenExpiration))
		return MaxTokenExpiration
	}
	return n
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
