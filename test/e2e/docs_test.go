package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/podidentity/podidentity/internal/config"
)

// TestDocumentedMetricsExist keeps the README and docs/ honest about
// metrics: every podidentity_* or pod_identity_* series they name (alerts
// in docs/operations.md included) is one the code registers.
func TestDocumentedMetricsExist(t *testing.T) {
	root := filepath.Join("..", "..")
	registered := map[string]bool{}
	nameField := regexp.MustCompile(`Name:\s+"((?:podidentity|pod_identity)_[a-z_]+)"`)
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		for _, m := range nameField.FindAllStringSubmatch(string(src), -1) {
			registered[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	mentioned := regexp.MustCompile(`\b(?:podidentity|pod_identity)_[a-z_]+\b`)
	checked := 0
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range mentioned.FindAllString(string(text), -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				base = strings.TrimSuffix(base, suffix)
			}
			if strings.HasSuffix(base, "_") {
				continue // a family named by its prefix, as in podidentity_agent_*
			}
			checked++
			if !registered[base] {
				t.Errorf("%s names metric %s, which the code does not register", filepath.Base(doc), name)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no metric names in the docs; the pattern is broken")
	}
}

// TestDocumentedAlertsAreTheChartsRules: the alerts docs/operations.md
// shows are the ones the Helm chart installs as a PrometheusRule.
func TestDocumentedAlertsAreTheChartsRules(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(groups:.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/operations.md has no alert rules block")
	}
	rules, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "podidentity", "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var body []string
	for _, line := range strings.SplitAfter(string(rules), "\n") {
		if !strings.HasPrefix(line, "#") {
			body = append(body, line)
		}
	}
	if got := strings.Join(body, ""); got != string(m[1]) {
		t.Errorf("deploy/helm/podidentity/files/prometheus-rules.yaml differs from the alerts in docs/operations.md:\n--- chart\n%s\n--- docs\n%s", got, m[1])
	}
}

// TestDocumentedConfigurationsParse: every server configuration the README
// and docs/ show (a yaml block starting with a top-level key of the file)
// is one the server accepts, so that no example teaches a key that does
// not exist or a combination it refuses (a create right without passRoles,
// two clusters with one issuer).
func TestDocumentedConfigurationsParse(t *testing.T) {
	root := filepath.Join("..", "..")
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	block := regexp.MustCompile("(?ms)^```yaml\n(.*?)^```")
	topLevel := regexp.MustCompile(`(?m)\A(?:#.*\n|\s*\n)*(listen|hostnames|region|accountId|storage|storageOptions|clusters|credentials|auth|limits|associations|log):`)
	parsed := map[string]int{}
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(text, -1) {
			if !topLevel.Match(m[1]) {
				continue
			}
			parsed[filepath.Base(doc)]++
			if _, err := config.Parse(m[1]); err != nil {
				t.Errorf("%s: a configuration example is refused: %v\n%s", filepath.Base(doc), err, m[1])
			}
		}
	}
	for _, doc := range []string{"README.md", "security.md"} {
		if parsed[doc] == 0 {
			t.Errorf("found no configuration example in %s; the pattern is broken", doc)
		}
	}
}
