package session_test

import (
	"strings"
	"testing"

	"github.com/podidentity/podidentity/internal/credentials/session"
)

// FuzzName checks that any cluster and pod names give a session name STS
// accepts, ending in the random UUID.
func FuzzName(f *testing.F) {
	f.Add("prod", "web-0")
	f.Add(strings.Repeat("c", 100), strings.Repeat("p", 253))
	f.Add("ü/x y", "\x00\xff")
	f.Fuzz(func(t *testing.T, cluster, pod string) {
		name, err := session.Name(cluster, pod, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := session.ValidateName(name); err != nil {
			t.Fatalf("Name(%q, %q) = %q: %v", cluster, pod, name, err)
		}
		if !uuidRE.MatchString(name) || !strings.HasPrefix(name, "eks-") {
			t.Fatalf("Name(%q, %q) = %q: not eks-...-<uuid>", cluster, pod, name)
		}
	})
}
