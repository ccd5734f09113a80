package storeurl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/podidentity/podidentity/internal/store/storeurl"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    storeurl.URL
		wantErr error
	}{
		{in: "memory", want: storeurl.URL{Kind: storeurl.Memory}},
		{in: "sqlite:///var/lib/podidentity.db", want: storeurl.URL{Kind: storeurl.SQLite, Path: "/var/lib/podidentity.db"}},
		{in: "sqlite://podidentity.db", want: storeurl.URL{Kind: storeurl.SQLite, Path: "podidentity.db"}},
		{in: "postgres://u:p@db:5432/pi?sslmode=verify-full", want: storeurl.URL{Kind: storeurl.Postgres}},
		{in: "postgresql://db/pi", want: storeurl.URL{Kind: storeurl.Postgres}},
		{in: "sqlite://", wantErr: storeurl.ErrNoFile},
		{in: "", wantErr: storeurl.ErrUnsupported},
		{in: "Memory", wantErr: storeurl.ErrUnsupported},
		{in: "mysql://db/pi", wantErr: storeurl.ErrUnsupported},
		{in: "/var/lib/podidentity.db", wantErr: storeurl.ErrUnsupported},
	}
	for _, tt := range tests {
		got, err := storeurl.Parse(tt.in)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestRedacted: no password reaches a log line or an error message.
func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"memory":                                               "memory",
		"sqlite:///var/lib/pi.db":                              "sqlite:///var/lib/pi.db",
		"sqlite://my db.db":                                    "sqlite://my db.db",
		"postgres://pi@db/pi":                                  "postgres://pi@db/pi",
		"postgres://pi:s3cret@db:5432/pi":                      "postgres://pi:xxxxx@db:5432/pi",
		"postgresql://pi:s3cret@db:port/pi":                    "(not shown: a value of no URL form may hold a password)",
		"postgres://pi:s3cret@db/pi?x=%zz":                     "postgres://pi:xxxxx@db/pi?(query not shown)",
		"postgres://db/pi?password=s3cret&sslmode=verify-full": "postgres://db/pi?password=xxxxx&sslmode=verify-full",
		"postgres://db/pi?sslpassword=s3cret":                  "postgres://db/pi?sslpassword=xxxxx",
		"postgres://db/pi?PassWord=s3cret&password=s3cret":     "postgres://db/pi?PassWord=xxxxx&password=xxxxx",
		"postgres://user:/s3cret@db/pi":                        "postgres://(rest not shown: it may hold a password)",
		"postgres://user:#s3cret@db/pi":                        "postgres://(rest not shown: it may hold a password)",
		"postgres://user:?s3cret@db/pi":                        "postgres://(rest not shown: it may hold a password)",
		"postgres://user:123/s3cret@db/pi":                     "postgres://(rest not shown: it may hold a password)",
		"postgres://user:123#s3cret@db/pi":                     "postgres://(rest not shown: it may hold a password)",
		"postgres://user:123?s3cret@db/pi":                     "postgres://(rest not shown: it may hold a password)",
		"mysql://u:s3cret@h/db":                                "mysql://(rest not shown)",
		"host=db password=s3cret dbname=pi":                    "(not shown: a value of no URL form may hold a password)",
		"s3cret":                                               "(not shown: a value of no URL form may hold a password)",
	} {
		got := storeurl.Redacted(in)
		if got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}
