package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecode: any file gets an error or a File, never a panic; a File
// that comes with KeyErrors can still be checked; and every problem names
// its key.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("region: us-weast-2\nclusters: [{name: prod, issuer: https://k8s.example, discovery: true}]\n"))
	f.Add([]byte("listen: 127.0.0.1:99999\nauth: {principals: [{arn: arn:x, accessKeyId: AKIA0000000000000000, secretAccessKey: s, actions: [\"ekss:*\"], clusters: [\"*\"]}]}\n"))
	f.Add([]byte("regoin: x\nclusters: [{name: a, isuer: b}]\nlimits: {associationsPerCluster: many}\n"))
	f.Add([]byte("---\n"))
	f.Add([]byte("clusters: [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		var ke *KeyErrors
		switch {
		case errors.As(err, &ke):
			if file == nil || len(ke.Problems) == 0 {
				t.Fatalf("KeyErrors %v with file %v", ke, file)
			}
		case err != nil:
			if file != nil {
				t.Fatalf("error %v with a file", err)
			}
			return
		}
		for _, p := range file.Problems() {
			if key, _, ok := strings.Cut(p, ": "); !ok || key == "" {
				t.Fatalf("problem %q names no key", p)
			}
		}
	})
}
