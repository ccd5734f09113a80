package backup

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

// openStore is a real SQLite store in the test's directory.
func openStore(t testing.TB, name string) *sqlstore.DB {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seed fills s with n associations (every third with a target role, an
// external id, a policy and no session tags), a tagged cluster and a
// setting.
func seed(t *testing.T, s *sqlstore.DB, n int) {
	t.Helper()
	ctx := context.Background()
	var all []pi.Association
	for i := range n {
		a := pi.Association{ClusterName: fmt.Sprintf("c%d", i%2), AssociationID: fmt.Sprintf("a-%017d", i),
			Namespace: fmt.Sprintf("ns-%d", i%3), ServiceAccount: fmt.Sprintf("sa-%d", i),
			RoleARN: "arn:aws:iam::111122223333:role/r", Tags: map[string]string{"n": fmt.Sprint(i)}, CreatedAt: t0, ModifiedAt: t0.Add(time.Hour)}
		if i%3 == 0 {
			a.TargetRoleARN, a.ExternalID, a.DisableSessionTags, a.Policy = "arn:aws:iam::444455556666:role/t", "e/x", true, "{}"
		}
		all = append(all, a)
	}
	if err := s.LoadAssociations(ctx, all); err != nil {
		t.Fatal(err)
	}
	if err := s.TagResource(ctx, "cluster/c0", map[string]string{"env": "prod"}, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSettingIfAbsent(ctx, "some.setting", "value"); err != nil {
		t.Fatal(err)
	}
}

type contents struct {
	Associations []pi.Association
	Tags         map[string]map[string]string
	Settings     map[string]string
}

func read(t *testing.T, s *sqlstore.DB) contents {
	t.Helper()
	ctx := context.Background()
	var c contents
	if err := s.EachAssociation(ctx, func(a *pi.Association) error { c.Associations = append(c.Associations, *a); return nil }); err != nil {
		t.Fatal(err)
	}
	var err error
	if c.Tags, err = s.ResourceTags(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Settings, err = s.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// load reads doc into s in one transaction, committed only when Read
// accepts the whole document.
func load(t testing.TB, s *sqlstore.DB, doc []byte) (sqlstore.LoadStats, error) {
	t.Helper()
	l, err := s.NewLoader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Rollback()
	if err := Read(bytes.NewReader(doc), l); err != nil {
		return sqlstore.LoadStats{}, err
	}
	return l.Commit()
}

func TestRoundTrip(t *testing.T) {
	src := openStore(t, "src.db")
	seed(t, src, 7)
	var doc bytes.Buffer
	n, err := Write(context.Background(), src, &doc, t0)
	if err != nil || n != 7 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	// One association a line: a large store streams, and a diff of two
	// backups reads association by association.
	if got := strings.Count(doc.String(), `{"clusterName"`); got != 7 {
		t.Errorf("%d association lines, want 7:\n%s", got, doc.String())
	}
	if !strings.HasPrefix(doc.String(), `{"format":"podidentity-export","version":1,"exportedAt":"2026-01-02T03:04:05Z","associations":[`) {
		t.Errorf("header: %.120s", doc.String())
	}
	dst := openStore(t, "dst.db")
	stats, err := load(t, dst, doc.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Inserted != 7 || stats.Settings != 1 {
		t.Errorf("stats = %+v", stats)
	}
	if diff := cmp.Diff(read(t, src), read(t, dst)); diff != "" {
		t.Errorf("the copy differs from its source (-src +dst):\n%s", diff)
	}
	// Loading the same document again changes nothing: an interrupted
	// import can be run again.
	stats, err = load(t, dst, doc.Bytes())
	if err != nil || stats.Inserted != 0 || stats.Skipped != 7 {
		t.Errorf("second load: %+v, %v", stats, err)
	}
}

func TestReadHeaderAnywhere(t *testing.T) {
	doc := `{"associations":[],"resourceTags":{},"settings":{"k":"v"},"exportedAt":"x","version":1,"format":"podidentity-export"}`
	if _, err := load(t, openStore(t, "db"), []byte(doc)); err != nil {
		t.Fatal(err)
	}
}

func TestReadRefuses(t *testing.T) {
	src := openStore(t, "src.db")
	seed(t, src, 3)
	var buf bytes.Buffer
	if _, err := Write(context.Background(), src, &buf, t0); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	tests := []struct{ name, doc, want string }{
		{"empty", "", "reading the export: EOF"},
		{"not an object", "[]", `found [ where "{" belongs`},
		{"truncated", good[:len(good)/2], "unexpected EOF"},
		{"unknown member", strings.Replace(good, `"roleArn"`, `"roleArm"`, 1), `unknown field "roleArm"`},
		{"unknown key", strings.Replace(good, `"settings"`, `"extras"`, 1), `unknown key "extras"`},
		{"repeated key", strings.Replace(good, `"version":1`, `"version":1,"version":1`, 1), `"version" twice`},
		{"wrong format", strings.Replace(good, Format, "something-else", 1), `not a podidentity export (format "something-else"`},
		{"wrong version", strings.Replace(good, `"version":1`, `"version":2`, 1), "version 2"},
		{"no header", `{"associations":[],"resourceTags":{},"settings":{}}`, `not a podidentity export (format ""`},
		{"missing field", strings.Replace(good, `"serviceAccount":"sa-1",`, "", 1), `association "a-00000000000000001" lacks serviceAccount`},
		{"missing times", strings.Replace(good, `"createdAt":"2026-01-02T03:04:05.006Z",`, "", 1), "lacks createdAt/modifiedAt"},
		{"trailing data", good + "{}", "data after its closing brace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := openStore(t, "dst.db")
			_, err := load(t, dst, []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read = %v, want an error with %q", err, tt.want)
			}
			if c := read(t, dst); len(c.Associations) != 0 || len(c.Settings) != 0 || len(c.Tags) != 0 {
				t.Errorf("a refused document left %+v", c)
			}
		})
	}
}

// FuzzRead: no document makes Read panic, and one it accepts names the
// format, loaded into a real store.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"format":"podidentity-export","version":1,"exportedAt":"2026-01-02T03:04:05Z","associations":[
{"clusterName":"c","associationId":"a-00000000000000001","namespace":"n","serviceAccount":"s","roleArn":"arn:aws:iam::111122223333:role/r","tags":{"k":"v"},"createdAt":"2026-01-02T03:04:05Z","modifiedAt":"2026-01-02T03:04:05Z"}
],
"resourceTags":{"cluster/c":{"env":"prod"}},
"settings":{"k":"v"}}
`))
	f.Add([]byte(`{"associations":[],"format":"podidentity-export","version":1}`))
	f.Add([]byte(`{"format":"podidentity-export","format":"x"}`))
	s, err := sqlstore.Open(context.Background(), "memory")
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, doc []byte) {
		l, err := s.NewLoader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Rollback() // never committed: every input starts from an empty store
		if err := Read(bytes.NewReader(doc), l); err == nil && !bytes.Contains(doc, []byte(Format)) {
			t.Errorf("accepted a document without the format's name: %q", doc)
		}
	})
}
