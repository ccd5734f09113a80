package server

import (
	"log/slog"
	"net/http"
	"time"
)

// Timeouts bound how long a client may hold a connection at each stage.
// Requests here are small and quick, so tight bounds cost nothing and stop
// slow clients (slowloris) from exhausting connections.
type Timeouts struct {
	ReadHeader time.Duration
	Read       time.Duration
	Write      time.Duration
	Idle       time.Duration
}

// DefaultTimeouts are what the server runs with. A function, not a
// variable, so that no caller can change them for every other.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 120 * time.Second}
}

// MaxHeaderBytes caps request headers; a signed AWS request needs a few KiB.
const MaxHeaderBytes = 64 << 10

// NewHTTPServer returns the http.Server the podidentity listener runs.
func NewHTTPServer(h http.Handler, log *slog.Logger, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
