package config

import (
	"strings"
	"testing"
	"time"
)

func TestSTSBackendKeys(t *testing.T) {
	f, err := Parse([]byte(`
credentials:
  backend: sts
  endpoint: https://sts.eu-central-1.amazonaws.com
  region: eu-central-1
  roleSessionDuration: 2h
`))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Credentials
	if c.Backend != "sts" || c.Endpoint != "https://sts.eu-central-1.amazonaws.com" || c.Region != "eu-central-1" ||
		c.SessionDuration != 2*time.Hour || c.ChainedSessionDuration != time.Hour {
		t.Errorf("credentials = %+v", c)
	}
	// Both names with the same value are fine.
	if _, err := Parse([]byte("credentials: {backend: sts, sessionDuration: 3h, roleSessionDuration: 3h}")); err != nil {
		t.Errorf("same value under both names: %v", err)
	}
}

func TestSTSBackendProblems(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want []string
	}{
		{
			yaml: "credentials: {backend: sts, endpoint: sts.amazonaws.com, region: Mars}",
			want: []string{"credentials.endpoint: \"sts.amazonaws.com\" must be the http(s) URL", "credentials.region: \"Mars\""},
		},
		{
			yaml: "credentials: {backend: local, endpoint: https://sts.amazonaws.com, region: us-east-1}",
			want: []string{"credentials.endpoint: applies only to backend sts", "credentials.region: applies only to backend sts"},
		},
		{
			yaml: "credentials: {backend: sts, sessionDuration: 2h, roleSessionDuration: 3h}",
			want: []string{"credentials.roleSessionDuration: 3h0m0s conflicts with sessionDuration 2h0m0s"},
		},
		{
			yaml: "credentials: {backend: sts, roleSessionDuration: 13h}",
			want: []string{"credentials.roleSessionDuration: 13h0m0s must be between 15m and 12h"},
		},
	} {
		_, err := Parse([]byte(tt.yaml))
		if err == nil {
			t.Errorf("%s: accepted", tt.yaml)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: problem %q not reported in:\n%v", tt.yaml, w, err)
			}
		}
	}
}
