package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/storetest"
)

func TestConformanceSQLiteFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pi.Store {
		s, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "test.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) pi.Store {
		s, err := Open(context.Background(), "memory")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "persist.db")
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSettingIfAbsent(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Reopening runs migrations again: they must be no-ops.
	s, err = Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ok, err := s.Setting(ctx, "k"); !ok || v != "v" || err != nil {
		t.Fatalf("after reopen: %q %v %v", v, ok, err)
	}
}

func TestOpenRejectsUnknownStorage(t *testing.T) {
	for _, u := range []string{"", "mysql://x", "sqlite://"} {
		if s, err := Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
}

func TestRebind(t *testing.T) {
	f := flavor{numberedParams: true}
	if got := f.rebind("a = ? AND b = ?"); got != "a = $1 AND b = $2" {
		t.Errorf("rebind = %q", got)
	}
}
