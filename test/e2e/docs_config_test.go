package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// docBlock is a fenced code block of the README or of docs/*.md.
type docBlock struct {
	doc  string // README.md, docs/security.md, ...
	lang string // yaml, sh, python, ...
	body string
}

// docBlocks returns every fenced block of the README and docs/*.md.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	root := filepath.Join("..", "..")
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	fence := regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```")
	var out []docBlock
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, doc)
		for _, m := range fence.FindAllSubmatch(text, -1) {
			out = append(out, docBlock{doc: name, lang: string(m[1]), body: string(m[2])})
		}
	}
	return out
}

// theShellBlock returns the one sh block of a page of docs/, for tests
// that run a page's commands as one script.
func theShellBlock(t *testing.T, page string) string {
	t.Helper()
	var found []string
	for _, b := range docBlocks(t) {
		if b.doc == filepath.Join("docs", page) && b.lang == "sh" {
			found = append(found, b.body)
		}
	}
	if len(found) != 1 {
		t.Fatalf("docs/%s has %d sh blocks; its test runs one", page, len(found))
	}
	return found[0]
}

// serverConfigs are the yaml blocks that are server configurations: they
// start with a top-level key of the file.
func serverConfigs(t *testing.T) []docBlock {
	t.Helper()
	topLevel := regexp.MustCompile(`(?m)\A(?:#.*\n|\s*\n)*(listen|hostnames|region|accountId|storage|storageOptions|clusters|credentials|auth|limits|associations|log):`)
	var out []docBlock
	for _, b := range docBlocks(t) {
		if b.lang == "yaml" && topLevel.MatchString(b.body) {
			out = append(out, b)
		}
	}
	return out
}

// materialized is a documented configuration made real: the files it
// names written with real contents, the variables it names set.
type materialized struct {
	path    string                       // the configuration, its file names replaced
	doc     *yaml.Node                   // the same, parsed, for further changes
	signers map[string]*tokenmint.Signer // by cluster issuer: the keys of jwksFile
	secrets map[string]string            // by access key id: the principal's secret
}

// materialize writes the configuration into dir with every file it names
// (keys ending in File) replaced by a generated file of the right kind, and
// every environment variable it names (keys ending in Env) set. A file key
// the test does not know fails the test: teach fileContents what it holds.
func materialize(t *testing.T, dir, body string) *materialized {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("not YAML: %v", err)
	}
	m := &materialized{doc: &doc, signers: map[string]*tokenmint.Signer{}, secrets: map[string]string{}}
	n := 0
	var walk func(*yaml.Node)
	walk = func(node *yaml.Node) {
		if node.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(node.Content); i += 2 {
				key, val := node.Content[i].Value, node.Content[i+1]
				switch {
				case val.Kind != yaml.ScalarNode || val.Value == "":
				case strings.HasSuffix(key, "File"):
					n++
					path := filepath.Join(dir, fmt.Sprintf("%d-%s", n, filepath.Base(val.Value)))
					content := m.fileContents(t, key, node)
					if err := os.WriteFile(path, content, 0o600); err != nil {
						t.Fatal(err)
					}
					val.Value = path
					if key == "secretAccessKeyFile" {
						m.secrets[mappingValue(node, "accessKeyId")] = string(content)
					}
				case strings.HasSuffix(key, "Env"):
					secret := randomText(t, 20)
					t.Setenv(val.Value, secret)
					if key == "secretAccessKeyEnv" {
						m.secrets[mappingValue(node, "accessKeyId")] = secret
					}
				}
			}
		}
		for _, c := range node.Content {
			walk(c)
		}
	}
	walk(&doc)
	m.path = filepath.Join(dir, "config.yaml")
	m.write(t)
	return m
}

// write saves the (possibly changed) configuration to m.path.
func (m *materialized) write(t *testing.T) {
	t.Helper()
	out, err := yaml.Marshal(m.doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// set replaces (or adds) a top-level key of the configuration.
func (m *materialized) set(t *testing.T, key string, value any) {
	t.Helper()
	var v yaml.Node
	if err := v.Encode(value); err != nil {
		t.Fatal(err)
	}
	top := m.doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == key {
			top.Content[i+1] = &v
			m.write(t)
			return
		}
	}
	top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &v)
	m.write(t)
}

// fileContents generates what a file named by key holds; in is the
// mapping the key belongs to (a cluster's issuer, say).
func (m *materialized) fileContents(t *testing.T, key string, in *yaml.Node) []byte {
	t.Helper()
	switch key {
	case "jwksFile":
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		issuer := mappingValue(in, "issuer")
		s, err := tokenmint.NewSigner(key, issuer)
		if err != nil {
			t.Fatal(err)
		}
		m.signers[issuer] = s
		b, _ := json.Marshal(s.JWKS())
		return b
	case "keyFile": // a sealing key: base64 of 32 bytes
		k := make([]byte, 32)
		rand.Read(k)
		return []byte(base64.StdEncoding.EncodeToString(k) + "\n")
	case "secretAccessKeyFile":
		return []byte(randomText(t, 20))
	case "passwordFile", "tokenFile":
		return []byte(randomText(t, 16) + "\n")
	case "caFile":
		return selfSignedCA(t)
	}
	t.Fatalf("a documented configuration names a file by %q; teach the docs test what such a file holds", key)
	return nil
}

func mappingValue(node *yaml.Node, key string) string {
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1].Value
		}
	}
	return ""
}

// freeLoopbackAddr is a loopback address with a port free right now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomText(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "docs test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestDocumentedConfigurationsLoad: every server configuration the README
// and docs/ show loads with the server's own loader once the files it
// names exist and the variables it names are set, so that no example
// teaches a key that does not exist or a combination the server refuses (a
// create right without passRoles, two clusters with one issuer).
func TestDocumentedConfigurationsLoad(t *testing.T) {
	loaded := map[string]int{}
	for i, b := range serverConfigs(t) {
		t.Run(fmt.Sprintf("%s#%d", b.doc, i), func(t *testing.T) {
			m := materialize(t, t.TempDir(), b.body)
			if _, err := config.Load(m.path); err != nil {
				t.Errorf("%s: a configuration example is refused: %v\n%s", b.doc, err, b.body)
			}
		})
		loaded[b.doc]++
	}
	for _, doc := range []string{"README.md", filepath.Join("docs", "security.md")} {
		if loaded[doc] == 0 {
			t.Errorf("found no configuration example in %s; the pattern is broken", doc)
		}
	}
}

// TestREADMEConfigurationExchangesTokens starts the real server on the
// README's configuration example and runs the token exchange as written
// there: the administrator creates an association for cluster prod, and
// the node principal calls `aws eks-auth assume-role-for-pod-identity
// --cluster-name prod` with a pod's token. The test changes only what a
// test must: the files and variables it names (generated), storage (a
// temporary SQLite file instead of /var/lib), the listen address (a free
// port, by --listen). Nothing else: a hostnames line that refuses the
// listen address a reader tries first fails it.
func TestREADMEConfigurationExchangesTokens(t *testing.T) {
	aws := testenv.LookPath(t, "aws")
	var readme []docBlock
	for _, b := range serverConfigs(t) {
		if b.doc == "README.md" {
			readme = append(readme, b)
		}
	}
	if len(readme) != 1 {
		t.Fatalf("the README has %d configuration examples; this test runs the one", len(readme))
	}
	dir := t.TempDir()
	m := materialize(t, dir, readme[0].body)
	m.set(t, "storage", "sqlite://"+filepath.Join(dir, "podidentity.db"))
	listen := freeLoopbackAddr(t)
	cfg, err := config.Load(m.path)
	if err != nil {
		t.Fatal(err)
	}
	var admin, node config.Principal
	for _, p := range cfg.Auth.Principals {
		switch {
		case strings.HasSuffix(p.ARN, ":user/platform-admin"):
			admin = p
		case strings.HasSuffix(p.ARN, ":role/node-agent"):
			node = p
		}
	}
	if admin.AccessKeyID == "" || node.AccessKeyID == "" {
		t.Fatalf("the README's example lost its platform-admin or node-agent principal: %+v", cfg.Auth.Principals)
	}
	prod := cfg.Clusters[0]
	signer := m.signers[prod.Issuer]
	if prod.Name != "prod" || signer == nil {
		t.Fatalf("the README's example should start with cluster prod and its jwksFile: %+v", prod)
	}
	srv := startServer(t, "--config", m.path, "--listen", listen)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	as := func(p config.Principal) []string {
		return append(awsEnv(), "AWS_ACCESS_KEY_ID="+p.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+m.secrets[p.AccessKeyID],
			"AWS_DEFAULT_REGION="+cfg.Region, "AWS_REGION="+cfg.Region)
	}
	role := "arn:aws:iam::" + cfg.AccountID + ":role/web"
	if _, stderr, err := runCmdEnv(t, ctx, as(admin), aws, "eks", "create-pod-identity-association",
		"--endpoint-url", srv.URL, "--cluster-name", "prod", "--namespace", "default",
		"--service-account", "web", "--role-arn", role); err != nil {
		t.Fatalf("the README's administrator cannot create an association on prod: %v\n%s", err, stderr)
	}
	token, err := signer.Mint(tokenmint.Pod{Namespace: "default", ServiceAccount: "web", ServiceAccountUID: "sa-uid-1",
		PodName: "web-0", PodUID: "pod-uid-1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmdEnv(t, ctx, as(node), aws, "eks-auth", "assume-role-for-pod-identity",
		"--endpoint-url", srv.URL, "--cluster-name", "prod", "--token", token, "--output", "json")
	if err != nil {
		t.Fatalf("the README's node principal cannot exchange a token for cluster prod: %v\n%s", err, stderr)
	}
	var resp struct {
		AssumedRoleUser struct{ Arn string }
		Credentials     struct{ AccessKeyId, SessionToken string }
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.AssumedRoleUser.Arn, ":assumed-role/web/eks-prod-web-0-") ||
		!strings.HasPrefix(resp.Credentials.AccessKeyId, "ASIA") || resp.Credentials.SessionToken == "" {
		t.Errorf("assume-role-for-pod-identity = %s, want credentials for role web", out)
	}
	// The administrator may exchange a token too: `podidentity doctor`
	// checks the chain that way with the administrator's key.
	if _, stderr, err := runCmdEnv(t, ctx, as(admin), aws, "eks-auth", "assume-role-for-pod-identity",
		"--endpoint-url", srv.URL, "--cluster-name", "prod", "--token", token); err != nil {
		t.Errorf("the README's administrator cannot exchange a token, as podidentity doctor does: %v\n%s", err, stderr)
	}
	// The node key does what a node needs and nothing more.
	_, stderr, err = runCmdEnv(t, ctx, as(node), aws, "eks", "list-pod-identity-associations",
		"--endpoint-url", srv.URL, "--cluster-name", "prod")
	if err == nil || !bytes.Contains([]byte(stderr), []byte("AccessDeniedException")) {
		t.Errorf("the node principal listed associations: %v\n%s", err, stderr)
	}
}
