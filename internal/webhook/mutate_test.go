package webhook

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden patches in testdata/mutate")

// TestMutateGolden runs Mutate on each pod in testdata/mutate and compares
// the patch, by meaning, with NAME.patch.json beside it. Every patch must
// apply cleanly, and Mutate on the patched pod must add nothing.
func TestMutateGolden(t *testing.T) {
	cases := map[string]struct {
		opts     Options
		warnings []string
	}{
		"minimal":                    {},
		"existing-lists":             {},
		"init-containers":            {},
		"skip-containers":            {},
		"sets-variables":             {},
		"all-skipped":                {},
		"token-expiration":           {},
		"token-expiration-too-short": {warnings: []string{`podidentity: eks.amazonaws.com/token-expiration "0" is below Kubernetes' minimum; using 600`}},
		"token-expiration-too-long":  {warnings: []string{`podidentity: eks.amazonaws.com/token-expiration "99999999999999999999999" is above Kubernetes' maximum; using 4294967296`}},
		"token-expiration-invalid":   {opts: Options{TokenExpiration: 43200}, warnings: []string{`podidentity: eks.amazonaws.com/token-expiration "1h" is not a number of seconds; using 43200`}},
		"already-injected":           {},
		"reinvoked-new-container":    {},
		"foreign-volume":             {warnings: []string{`podidentity: volume "eks-pod-identity-token" exists and is not the pod identity token; pod left unchanged`}},
		"mount-conflict":             {warnings: []string{`podidentity: container "taken" mounts another volume at the token's path; not given credentials`}},
		"mounted-without-env":        {},
		"ipv6":                       {opts: Options{CredentialsURI: CredentialsURIIPv6}},
		"sidecar-annotated":          {opts: sidecarOpts},
		"sidecar-namespace":          {opts: sidecarOpts},
		"sidecar-opt-out":            {opts: sidecarOpts},
		"sidecar-not-enabled":        {warnings: []string{`podidentity: podidentity.io/delivery "sidecar": sidecar delivery is not enabled on this webhook; the node agent serves the pod`}},
		"sidecar-reinvoked":          {opts: sidecarOpts},
		"sidecar-sets-variables":     {opts: sidecarOpts},
	}
	files, err := filepath.Glob("testdata/mutate/*.pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := cases[strings.TrimSuffix(filepath.Base(f), ".pod.yaml")]; !ok {
			t.Errorf("%s has no test case", f)
		}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			raw, pod := loadPod(t, filepath.Join("testdata/mutate", name+".pod.yaml"))
			res, err := Mutate(pod, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(nonNil(res.Patch), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/mutate", name+".patch.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(decodeJSON(t, want), decodeJSON(t, got)); d != "" {
				t.Errorf("patch (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.warnings, res.Warnings); d != "" {
				t.Errorf("warnings (-want +got):\n%s", d)
			}
			checkApplied(t, raw, res, tc.opts)
		})
	}
}

var sidecarOpts = Options{Sidecar: &SidecarOptions{Image: "ghcr.io/podidentity/podidentity:test", ClusterName: "demo",
	Endpoint: "http://podidentity.podidentity-system:8080", Namespaces: []string{"team"}}}

// checkApplied applies the patch to the pod and checks the outcome: the
// injected containers have exactly one of each variable and one mount of
// an existing volume, and a second Mutate adds nothing.
func checkApplied(t *testing.T, raw []byte, res *Result, opts Options) {
	t.Helper()
	patch, _ := json.Marshal(nonNil(res.Patch))
	out, err := applyPatch(raw, patch)
	if err != nil {
		t.Fatalf("the patch does not apply: %v", err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(out, &pod); err != nil {
		t.Fatalf("the patched pod does not decode: %v", err)
	}
	volumes := map[string]int{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name]++
	}
	for name, n := range volumes {
		if n > 1 {
			t.Errorf("volume %q appears %d times", name, n)
		}
	}
	injected := map[string]bool{}
	for _, n := range res.Injected {
		injected[n] = true
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		env := map[string]int{}
		for _, e := range c.Env {
			env[e.Name]++
		}
		paths := map[string]int{}
		for _, m := range c.VolumeMounts {
			paths[filepath.Clean(m.MountPath)]++
			if volumes[m.Name] == 0 {
				t.Errorf("container %q mounts volume %q, which the pod does not have", c.Name, m.Name)
			}
		}
		for p, n := range paths {
			if n > 1 {
				t.Errorf("container %q mounts %d volumes at %s", c.Name, n, p)
			}
		}
		if !injected[c.Name] {
			continue
		}
		if env[EnvCredentialsURI] != 1 || env[EnvTokenFile] != 1 {
			t.Errorf("container %q: env %v, want one of each variable", c.Name, env)
		}
		if paths[MountPath] != 1 {
			t.Errorf("container %q has no mount at %s", c.Name, MountPath)
		}
	}
	sidecars := 0
	for i, c := range pod.Spec.InitContainers {
		if c.Name != SidecarName {
			continue
		}
		sidecars++
		if i != 0 || c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("sidecar at init container %d, restartPolicy %v: want first, Always", i, c.RestartPolicy)
		}
		for _, e := range c.Env {
			if e.Name == EnvCredentialsURI || e.Name == EnvTokenFile {
				t.Errorf("the sidecar was given %s", e.Name)
			}
		}
	}
	if sidecars > 1 {
		t.Errorf("%d sidecars", sidecars)
	}
	again, err := Mutate(&pod, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Patch) != 0 {
		p, _ := json.Marshal(again.Patch)
		t.Errorf("a second Mutate (reinvocation) patches again: %s", p)
	}
}

func nonNil(ops []Operation) []Operation {
	if ops == nil {
		return []Operation{}
	}
	return ops
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}

func TestMutateRefusesBadOptions(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	for _, opts := range []Options{
		{CredentialsURI: "169.254.170.23/v1/credentials"},
		{CredentialsURI: "ftp://x/"},
		{TokenExpiration: 599},
		{TokenExpiration: MaxTokenExpiration + 1},
	} {
		if _, err := Mutate(pod, opts); err == nil {
			t.Errorf("Mutate with %+v: no error", opts)
		}
	}
	if _, err := Mutate(nil, Options{}); err == nil {
		t.Error("Mutate(nil): no error")
	}
}

// TestMutateExpirationBounds pins the clamping at both edges.
func TestMutateExpirationBounds(t *testing.T) {
	for _, tc := range []struct {
		annotation string
		want       int64
		warned     bool
	}{
		{"600", 600, false},
		{"599", 600, true},
		{"-5", 600, true},
		{"-99999999999999999999", 600, true},
		{" 7200 ", 7200, false},
		{"4294967296", 4294967296, false},
		{"4294967297", 4294967296, true},
		{"", DefaultTokenExpiration, true},
		{"1e4", DefaultTokenExpiration, true},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
		pod.Annotations = map[string]string{AnnotationTokenExpiration: tc.annotation}
		res, err := Mutate(pod, Options{})
		if err != nil {
			t.Fatal(err)
		}
		vol := res.Patch[0].Value.([]corev1.Volume)[0]
		if got := *vol.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds; got != tc.want {
			t.Errorf("annotation %q: expirationSeconds %d, want %d", tc.annotation, got, tc.want)
		}
		if warned := len(res.Warnings) > 0; warned != tc.warned {
			t.Errorf("annotation %q: warnings %q, want warned=%v", tc.annotation, res.Warnings, tc.warned)
		}
		for _, w := range res.Warnings {
			// The API server truncates longer warnings.
			if len(w) > 120 {
				t.Errorf("warning longer than 120 characters: %q", w)
			}
		}
	}
}
