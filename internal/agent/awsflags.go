package agent

import (
	"strings"
	"time"
)

// AWSAgentFlags are the limits as the AWS agent's command line spells
// them, where 0 means "off" (and, for our --port, "any free port"); in
// Config, 0 means "the default" and a negative value means "off".
type AWSAgentFlags struct {
	Port          int           // --port
	MaxCacheSize  int           // --max-cache-size: 0 disables caching
	Retention     time.Duration // --max-credential-retention-before-renewal: 0 disables caching
	MaxServiceQPS int           // --max-service-qps
	MaxRequestQPS int           // --max-request-qps: 0 lifts the bound
}

// Apply sets cfg's port and limits from f.
func (f AWSAgentFlags) Apply(cfg *Config) {
	cfg.Port = f.Port
	if f.Port == 0 {
		cfg.Port = -1
	}
	cfg.MaxCacheSize, cfg.MaxRefresh = f.MaxCacheSize, f.Retention
	if f.MaxCacheSize <= 0 || f.Retention <= 0 {
		cfg.MaxCacheSize, cfg.MaxRefresh = -1, -1
	}
	cfg.RefreshQPS = float64(f.MaxServiceQPS)
	cfg.RequestQPS = float64(f.MaxRequestQPS)
	if f.MaxRequestQPS <= 0 {
		cfg.RequestQPS = -1
	}
}

// LogLevel is the slog level of an AWS agent --verbosity (logrus names),
// and whether there is one.
func LogLevel(verbosity string) (string, bool) {
	switch v := strings.ToLower(verbosity); v {
	case "trace", "debug":
		return "debug", true
	case "info", "warn", "error":
		return v, true
	case "warning":
		return "warn", true
	case "fatal", "panic":
		return "error", true
	}
	return "", false
}
