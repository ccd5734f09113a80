package tokenmint_test

import (
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/tokenmint"
)

func TestDevTTL(t *testing.T) {
	tests := []struct {
		requested, want time.Duration
		wantErr         bool
	}{
		{requested: 0, want: time.Hour},
		{requested: time.Minute, want: time.Minute},
		{requested: 10 * time.Minute, want: 10 * time.Minute},
		{requested: 48 * time.Hour, want: 48 * time.Hour},
		{requested: time.Minute - time.Second, wantErr: true},
		{requested: 48*time.Hour + time.Second, wantErr: true},
		{requested: -time.Hour, wantErr: true},
	}
	for _, tt := range tests {
		got, err := tokenmint.DevTTL(tt.requested)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("DevTTL(%s) = %s, %v; want %s, error %v", tt.requested, got, err, tt.want, tt.wantErr)
		}
	}
}
