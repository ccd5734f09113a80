package agent

import (
	"testing"
	"time"
)

func TestAWSAgentFlagsApply(t *testing.T) {
	tests := []struct {
		name  string
		flags AWSAgentFlags
		want  Config
	}{
		{"as given", AWSAgentFlags{Port: 80, MaxCacheSize: 10, Retention: time.Hour, MaxServiceQPS: 3, MaxRequestQPS: 7},
			Config{Port: 80, MaxCacheSize: 10, MaxRefresh: time.Hour, RefreshQPS: 3, RequestQPS: 7}},
		{"port 0 is any free port", AWSAgentFlags{Port: 0, MaxCacheSize: 10, Retention: time.Hour, MaxRequestQPS: 7},
			Config{Port: -1, MaxCacheSize: 10, MaxRefresh: time.Hour, RequestQPS: 7}},
		{"cache size 0 disables caching", AWSAgentFlags{Port: 80, MaxCacheSize: 0, Retention: time.Hour, MaxRequestQPS: 7},
			Config{Port: 80, MaxCacheSize: -1, MaxRefresh: -1, RequestQPS: 7}},
		{"retention 0 disables caching", AWSAgentFlags{Port: 80, MaxCacheSize: 10, Retention: 0, MaxRequestQPS: 7},
			Config{Port: 80, MaxCacheSize: -1, MaxRefresh: -1, RequestQPS: 7}},
		{"request qps 0 is unlimited", AWSAgentFlags{Port: 80, MaxCacheSize: 10, Retention: time.Hour, MaxRequestQPS: 0},
			Config{Port: 80, MaxCacheSize: 10, MaxRefresh: time.Hour, RequestQPS: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Config
			tt.flags.Apply(&got)
			if got.Port != tt.want.Port || got.MaxCacheSize != tt.want.MaxCacheSize || got.MaxRefresh != tt.want.MaxRefresh ||
				got.RefreshQPS != tt.want.RefreshQPS || got.RequestQPS != tt.want.RequestQPS {
				t.Errorf("Apply(%+v) = port %d, cache %d/%s, qps %g/%g; want port %d, cache %d/%s, qps %g/%g", tt.flags,
					got.Port, got.MaxCacheSize, got.MaxRefresh, got.RefreshQPS, got.RequestQPS,
					tt.want.Port, tt.want.MaxCacheSize, tt.want.MaxRefresh, tt.want.RefreshQPS, tt.want.RequestQPS)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	for verbosity, want := range map[string]string{"trace": "debug", "DEBUG": "debug", "info": "info", "Warning": "warn",
		"warn": "warn", "error": "error", "fatal": "error", "panic": "error"} {
		if got, ok := LogLevel(verbosity); !ok || got != want {
			t.Errorf("LogLevel(%q) = %q, %t; want %q", verbosity, got, ok, want)
		}
	}
	if got, ok := LogLevel("loud"); ok {
		t.Errorf("LogLevel(loud) = %q, true", got)
	}
}
