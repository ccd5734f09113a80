package config

import (
	"strings"
	"testing"
)

func TestStorageOptions(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // problems expected; none when empty
	}{
		{"postgres with pool and password file", `
storage: postgres://podidentity@db.example:5432/podidentity?sslmode=verify-full
storageOptions: {passwordFile: /run/secrets/pg, maxConns: 20, minConns: 2}`, nil},
		{"postgresql scheme, password from env", `
storage: postgresql://podidentity@db/podidentity
storageOptions: {passwordEnv: PGPASS}`, nil},
		{"options on sqlite", `
storage: sqlite:///var/lib/podidentity.db
storageOptions: {maxConns: 3}`, []string{"storageOptions: applies to postgres:// storage only"}},
		{"two password sources", `
storage: postgres://u@db/p
storageOptions: {passwordFile: /f, passwordEnv: E}`, []string{"set at most one of passwordFile or passwordEnv"}},
		{"password in URL and option", `
storage: postgres://u:s3cret@db/p
storageOptions: {passwordEnv: E}`, []string{"storage: carries a password and storageOptions names another"}},
		{"pool sizes", `
storage: postgres://u@db/p
storageOptions: {maxConns: 2, minConns: 5}`, []string{"storageOptions.minConns: 5 exceeds maxConns 2"}},
		{"negative", `
storage: postgres://u@db/p
storageOptions: {maxConns: -1, minConns: -1}`, []string{"storageOptions.maxConns: must not be negative", "storageOptions.minConns: must not be negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error echoes the password: %v", err)
			}
		})
	}
}
