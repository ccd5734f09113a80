package storeurl_test

import (
	"errors"
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
