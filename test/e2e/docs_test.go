package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
