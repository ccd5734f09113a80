package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/backup"
	"github.com/podidentity/podidentity/internal/credentials/local"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/pgtest"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// seedStore fills a SQLite file as a server would leave it: associations
// made through the Store with tags, a tagged cluster, the generated
// sealing key.
func seedStore(t *testing.T, url string, n int) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	var bulk []pi.Association // past the first 30, for speed
	for i := range n {
		a := &pi.Association{ClusterName: fmt.Sprintf("c%d", i%2), AssociationID: fmt.Sprintf("a-%017d", i),
			Namespace: fmt.Sprintf("ns-%d", i%3), ServiceAccount: fmt.Sprintf("sa-%d", i),
			RoleARN: "arn:aws:iam::111122223333:role/r", Tags: map[string]string{"n": fmt.Sprint(i)}, CreatedAt: t0, ModifiedAt: t0}
		if i%5 == 0 {
			a.TargetRoleARN, a.ExternalID, a.DisableSessionTags, a.Policy = "arn:aws:iam::444455556666:role/t", "e/x", true, "{}"
		}
		if i >= 30 {
			bulk = append(bulk, *a)
			continue
		}
		if _, err := s.CreateAssociation(ctx, a, 5000, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LoadAssociations(ctx, bulk); err != nil {
		t.Fatal(err)
	}
	if err := s.TagResource(ctx, "cluster/c0", map[string]string{"env": "prod"}, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSettingIfAbsent(ctx, local.GeneratedKeySetting, "c2VjcmV0"); err != nil {
		t.Fatal(err)
	}
}

type contents struct {
	Associations []pi.Association
	Tags         map[string]map[string]string
	Settings     map[string]string
}

func readStore(t *testing.T, url string) contents {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var c contents
	if err := s.EachAssociation(ctx, func(a *pi.Association) error { c.Associations = append(c.Associations, *a); return nil }); err != nil {
		t.Fatal(err)
	}
	if c.Tags, err = s.ResourceTags(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Settings, err = s.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExportImportSQLite(t *testing.T) {
	dir := t.TempDir()
	src := "sqlite://" + filepath.Join(dir, "src.db")
	seedStore(t, src, 25)
	file := filepath.Join(dir, "backup.json")
	if _, stderr, code := run(t, "export", "--storage", src, "--output", file); code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v; want mode 0600 (it holds the generated sealing key)", st, err)
	}
	dst := "sqlite://" + filepath.Join(dir, "dst.db")
	out, stderr, code := run(t, "import", "--storage", dst, "--input", file)
	if code != 0 || !strings.Contains(out, "imported 25 associations (0 already present), 26 tags, 1 settings") {
		t.Fatalf("import: %d %q %s", code, out, stderr)
	}
	want := readStore(t, src)
	if diff := cmp.Diff(want, readStore(t, dst)); diff != "" {
		t.Fatalf("imported store differs (-source +imported):\n%s", diff)
	}
	// Again: everything is present already.
	out, _, code = run(t, "import", "--storage", dst, "--input", file)
	if code != 0 || !strings.Contains(out, "imported 0 associations (25 already present)") {
		t.Fatalf("second import: %d %q", code, out)
	}
}

func TestImportRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	src := "sqlite://" + filepath.Join(dir, "src.db")
	seedStore(t, src, 3)
	file := filepath.Join(dir, "backup.json")
	if _, stderr, code := run(t, "export", "--storage", src, "--output", file); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	good, _ := os.ReadFile(file)
	tests := map[string]string{
		"truncated":      string(good[:len(good)/2]),
		"unknown member": strings.Replace(string(good), `"roleArn"`, `"roleArm"`, 1),
		"wrong format":   strings.Replace(string(good), backup.Format, "something-else", 1),
		"missing field":  strings.Replace(string(good), `"serviceAccount":"sa-1",`, "", 1),
		"trailing data":  string(good) + "{}",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.json")
			os.WriteFile(bad, []byte(body), 0o600)
			dst := "sqlite://" + filepath.Join(t.TempDir(), "dst.db")
			_, stderr, code := run(t, "import", "--storage", dst, "--input", bad)
			if code == 0 || !strings.Contains(stderr, "nothing was imported") {
				t.Fatalf("import of %s input: code %d, stderr %q", name, code, stderr)
			}
			if c := readStore(t, dst); len(c.Associations) != 0 || len(c.Settings) != 0 {
				t.Fatalf("a refused import left %d associations, %d settings", len(c.Associations), len(c.Settings))
			}
		})
	}
}

// The move to several replicas: the SQLite file into PostgreSQL with
// `migrate`, rerunnable; and export/import reaching the same result.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	src := "sqlite://" + filepath.Join(dir, "src.db")
	seedStore(t, src, 1200) // more than one export page and load batch
	dst := pg.NewDatabase(t)

	out, stderr, code := run(t, "migrate", "--from", src, "--to", dst)
	if code != 0 || !strings.Contains(out, "migrated 1200 associations (0 already present)") {
		t.Fatalf("migrate: %d %q %s", code, out, stderr)
	}
	if strings.Contains(out+stderr, pg.Password()) {
		t.Fatal("migrate printed the database password")
	}
	want := readStore(t, src)
	if diff := cmp.Diff(want, readStore(t, dst)); diff != "" {
		t.Fatalf("migrated store differs (-sqlite +postgres):\n%s", diff)
	}
	out, _, code = run(t, "migrate", "--from", src, "--to", dst)
	if code != 0 || !strings.Contains(out, "migrated 0 associations (1200 already present)") {
		t.Fatalf("rerun: %d %q", code, out)
	}

	// export | import reaches the same state in another database, and the
	// store stays usable for ordinary writes afterwards.
	file := filepath.Join(dir, "pg.json")
	if _, stderr, code := run(t, "export", "--storage", dst, "--output", file); code != 0 {
		t.Fatalf("export from postgres: %s", stderr)
	}
	dst2 := pg.NewDatabase(t)
	if _, stderr, code := run(t, "import", "--storage", dst2, "--input", file); code != 0 {
		t.Fatalf("import into postgres: %s", stderr)
	}
	if diff := cmp.Diff(want, readStore(t, dst2)); diff != "" {
		t.Fatalf("export/import differs (-sqlite +postgres):\n%s", diff)
	}
	s, err := sqlstore.Open(context.Background(), dst2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.CreateAssociation(context.Background(), &pi.Association{ClusterName: "c0", AssociationID: "a-new", Namespace: "ns-0",
		ServiceAccount: "sa-0", RoleARN: "arn:aws:iam::111122223333:role/r", CreatedAt: time.Now(), ModifiedAt: time.Now()}, 5000, nil)
	if pi.ErrorCode(err) != pi.CodeInUse {
		t.Fatalf("imported associations must hold their service accounts: %v", err)
	}
}

func TestStorageCommandsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"migrate", "--from", "sqlite://a.db"},
		{"migrate", "--from", "sqlite://a.db", "--to", "sqlite://a.db"},
		{"export"},
		{"export", "--storage", "sqlite://a.db", "--config", "c.yaml"},
		{"import", "--storage", "memory"},
	} {
		if _, _, code := run(t, args...); code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
}

// export and migrate read a store: a typo in its path must fail and create
// nothing, not back up an empty database it just made and report success.
func TestStorageCommandsRefuseMissingSource(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	cfg := filepath.Join(dir, "podidentity.yaml")
	if err := os.WriteFile(cfg, []byte("storage: sqlite://"+missing+"\nclusters: [{name: prod, issuer: https://k8s.example, discovery: true}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"export", "--storage", "sqlite://" + missing},
		{"export", "--config", cfg},
		{"migrate", "--from", "sqlite://" + missing, "--to", "sqlite://" + filepath.Join(dir, "to.db")},
	} {
		out, stderr, code := run(t, args...)
		if code != 1 || out != "" || !strings.Contains(stderr, "there is no SQLite database at "+missing) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 naming the missing file", args, code, out, stderr)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%v created %s", args, missing)
		}
	}
}
