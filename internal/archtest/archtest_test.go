package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/podidentity/podidentity"

// leaves must import no package of this module. sigv4 is verified against
// real signers and fuzzed on its own, and the domain is what everything
// else depends on; neither may learn about the rest. The others are small
// tools that have no reason to.
var leaves = []string{
	"internal/iamglob",
	"internal/linklocal",
	"internal/ociimage",
	"internal/podidentity",
	"internal/sigv4",
	"internal/testenv",
	"internal/tokenmint",
}

// pkg is one directory of Go code, as the build (not its tests) sees it.
type pkg struct {
	dir     string   // relative to the module root, slash-separated
	imports []string // of its non-test files
	doc     bool     // some non-test file has a package doc comment
}

func TestLeavesImportNothingOfOurs(t *testing.T) {
	pkgs := loadPackages(t)
	for _, leaf := range leaves {
		p, ok := pkgs[leaf]
		if !ok {
			t.Errorf("leaf package %s not found; update the list of leaves", leaf)
			continue
		}
		for _, imp := range p.imports {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				t.Errorf("%s imports %s; it must import no package of this module", leaf, imp)
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	pkgs := loadPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages; is the module root right?", len(pkgs))
	}
	for dir, p := range pkgs {
		if !p.doc {
			t.Errorf("package %s has no package doc comment saying why it exists", dir)
		}
	}
}

// loadPackages parses the package clause and imports of every non-test Go
// file of the module, skipping testdata and hidden directories as the go
// command does.
func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	root := moduleRoot(t)
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(rel)
		pk := pkgs[dir]
		if pk == nil {
			pk = &pkg{dir: dir}
			pkgs[dir] = pk
		}
		pk.doc = pk.doc || f.Doc != nil
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if !slices.Contains(pk.imports, ip) {
				pk.imports = append(pk.imports, ip)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// moduleRoot is the directory of go.mod above this package's.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if !strings.Contains(string(b), "module "+module+"\n") {
				t.Fatalf("%s/go.mod is not module %s", dir, module)
			}
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// The README's "## Layout" section is the map a newcomer reads first: it
// must name every package (or a directory above it), and nothing that is
// not there.
func TestReadmeLayoutMatchesTree(t *testing.T) {
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?ms)^## Layout\n\n```\n(.*?)^```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no \"## Layout\" section with a code block")
	}
	var entries []string
	for line := range strings.Lines(string(m[1])) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		entry := fields[0]
		if !strings.HasSuffix(entry, "/") {
			t.Errorf("layout entry %q: directories end in '/'", entry)
			continue
		}
		if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(entry))); err != nil || !fi.IsDir() {
			t.Errorf("layout names %s, which is not a directory of the tree", entry)
		}
		entries = append(entries, entry)
	}
	for dir := range loadPackages(t) {
		if !slices.ContainsFunc(entries, func(e string) bool { return strings.HasPrefix(dir+"/", e) }) {
			t.Errorf("package %s is not in the README's layout", dir)
		}
	}
}
