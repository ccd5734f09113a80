package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/podidentity/podidentity/internal/testenv"
)

// tools are the outside binaries, from the environment (.ci/setup.d/30-kube.sh
// exports them) or else where hack/kube-build.sh caches them.
type tools struct {
	apiserver, etcd, kubectl, helm, helmDocs string
	missing                                  []string
}

var (
	repoRoot string
	tool     tools
	binary   string // podidentity, built once

	clusterOnce sync.Once
	cluster     *kubeCluster
	clusterErr  error
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	tool = findTools()

	dir, err := os.MkdirTemp("", "podidentity-kube-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if len(tool.missing) == 0 {
			binary = filepath.Join(dir, "podidentity")
			build := exec.Command("go", "build", "-o", binary, "github.com/podidentity/podidentity/cmd/podidentity")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building podidentity:", err)
				return 1
			}
		}
		code := m.Run()
		if cluster != nil {
			cluster.stop()
		}
		return code
	}()
	os.Exit(code)
}

func findTools() tools {
	out, err := exec.Command("bash", filepath.Join(repoRoot, "hack", "kube-build.sh"), "--print-env").Output()
	defaults := map[string]string{}
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
				defaults[k] = v
			}
		}
	}
	var t tools
	for _, x := range []struct {
		env string
		dst *string
	}{{"KUBE_APISERVER", &t.apiserver}, {"ETCD", &t.etcd}, {"KUBECTL", &t.kubectl}, {"HELM", &t.helm}, {"HELM_DOCS", &t.helmDocs}} {
		p := os.Getenv(x.env)
		if p == "" {
			p = defaults[x.env]
		}
		if fi, err := os.Stat(p); p == "" || err != nil || fi.Mode()&0o111 == 0 {
			t.missing = append(t.missing, fmt.Sprintf("%s (%s)", x.env, p))
			continue
		}
		*x.dst = p
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.missing = append(t.missing, "openssl")
	}
	return t
}

// needTools skips (or, in CI, fails) a test when the Kubernetes binaries
// have not been built.
func needTools(t *testing.T) {
	t.Helper()
	if len(tool.missing) > 0 {
		testenv.Missing(t, "what hack/kube-build.sh builds (about 5 minutes, once) "+strings.Join(tool.missing, ", "))
	}
}

// kubeCluster is an etcd and kube-apiserver started by hack/kube-up.sh.
type kubeCluster struct {
	dir        string
	URL        string // also the service-account issuer
	Kubeconfig string
	CAFile     string
}

// startCluster starts the package's one cluster on first use.
func startCluster(t *testing.T) *kubeCluster {
	t.Helper()
	needTools(t)
	clusterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "podidentity-kube-cluster-")
		if err != nil {
			clusterErr = err
			return
		}
		cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "kube-up.sh"), dir)
		cmd.Env = append(os.Environ(), "KUBE_APISERVER="+tool.apiserver, "ETCD="+tool.etcd, "KUBECTL="+tool.kubectl,
			"KUBE_UP_WATCH_PID="+strconv.Itoa(os.Getpid()))
		out, err := cmd.CombinedOutput()
		c := &kubeCluster{dir: dir}
		cluster = c // so that TestMain stops whatever did start
		if err != nil {
			clusterErr = fmt.Errorf("hack/kube-up.sh: %v\n%s", err, out)
			return
		}
		env, err := os.ReadFile(filepath.Join(dir, "env"))
		if err != nil {
			clusterErr = err
			return
		}
		for _, line := range strings.Split(string(env), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "KUBE_URL":
				c.URL = v
			case "KUBECONFIG":
				c.Kubeconfig = v
			case "KUBE_CA_FILE":
				c.CAFile = v
			}
		}
	})
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return cluster
}

func (c *kubeCluster) stop() {
	exec.Command("bash", filepath.Join(repoRoot, "hack", "kube-down.sh"), c.dir).Run()
	if os.Getenv("PODIDENTITY_KEEP_KUBE") == "" {
		os.RemoveAll(c.dir)
	}
}

// logs returns the tail of the API server's log, for failure messages.
func (c *kubeCluster) logs() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "kube-apiserver.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// kubectl runs kubectl against the cluster with stdin and returns stdout.
func (c *kubeCluster) kubectl(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool.kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// must is kubectl that fails the test on error.
func (c *kubeCluster) must(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := c.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helm runs helm and returns stdout.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool.helm, args...)
	cmd.Dir = repoRoot
	// No repositories or plugins of the user's leak in.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// splitYAML decodes a multi-document YAML stream into objects.
func splitYAML(t *testing.T, s string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(s))
	var objs []map[string]any
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decoding YAML: %v", err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
}

// asList wraps objects in a v1 List, which kubectl applies as one.
func asList(t *testing.T, objs []map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": objs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// process is a podidentity process started by a test.
type process struct {
	URL string
	*testenv.Process
}

var listening = regexp.MustCompile(`listening on (https?://\S+)`)

// start runs podidentity with args and env, waits until it says where it
// listens, and stops it when the test ends.
func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	p := &process{}
	p.Process = testenv.Start(t, "podidentity "+args[0], cmd, testenv.AnnouncesURL(listening, &p.URL))
	return p
}

// baseEnv is a clean environment for podidentity processes: no AWS
// configuration of the user's, no instance metadata, no proxy for loopback.
func baseEnv() []string {
	env := []string{
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "HOME" || k == "TMPDIR" {
			env = append(env, kv)
		}
	}
	return env
}
