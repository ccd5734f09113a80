// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb in a
// temporary directory, the server on a free loopback port with password
// authentication, and helpers to stop and resume it for fault tests. Tests
// skip where PostgreSQL is not installed, and fail instead when
// PODIDENTITY_REQUIRE_E2E is set (internal/testenv), as CI sets it.
//
// initdb refuses to run as root, so as root every PostgreSQL program runs
// as the "postgres" user (runuser, or su), on a directory that user owns.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/podidentity/podidentity/internal/testenv"
)

// Cluster is a running (or stopped) throwaway PostgreSQL cluster.
type Cluster struct {
	bin string // directory holding initdb, pg_ctl, postgres
	// As root, programs run as the postgres user (uid, gid), through
	// runuser when it exists, else su.
	asPostgres bool
	uid, gid   int
	runuser    string
	dir        string // everything: data/, socket, log
	port       int
	password   string
	listen     string // listen_addresses: 127.0.0.1, plus AllowFrom's

	mu      sync.Mutex
	running bool
	dbSeq   int
}

// errNotInstalled says what is missing for the skip message.
type errNotInstalled struct{ what string }

func (e errNotInstalled) Error() string { return e.what }

// Start starts a cluster that t owns: it is stopped and removed when t
// ends. Fault tests that stop the database take their own; other tests
// share one through Shared.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := start()
	if err != nil {
		var missing errNotInstalled
		if errors.As(err, &missing) {
			testenv.Missing(t, missing.what)
		}
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return c
}

// Shared is a cluster started on first use and shared by a test binary's
// tests; its TestMain calls Close after m.Run.
type Shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Get returns the shared cluster, starting it on first use, or skips (or
// fails) t when PostgreSQL is not installed.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() { s.c, s.err = start() })
	if s.err != nil {
		var missing errNotInstalled
		if errors.As(s.err, &missing) {
			testenv.Missing(t, missing.what)
		}
		t.Fatalf("starting PostgreSQL: %v", s.err)
	}
	return s.c
}

// Close stops and removes the shared cluster, if it was started.
func (s *Shared) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}

// findBin returns the directory of initdb: from PATH, or the newest
// /usr/lib/postgresql/N/bin, where Debian and Ubuntu install it.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	if len(dirs) == 0 {
		return "", errNotInstalled{"PostgreSQL (initdb, pg_ctl; apt-get install postgresql)"}
	}
	return filepath.Dir(dirs[0]), nil
}

func pgVersion(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

func start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	pw := make([]byte, 12)
	rand.Read(pw)
	c.password = hex.EncodeToString(pw)

	c.dir, err = os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// initdb refuses root: run everything as the postgres user, on a
		// directory it owns.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(c.dir)
			return nil, errNotInstalled{`the "postgres" user (PostgreSQL runs as it when tests run as root)`}
		}
		c.asPostgres = true
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, c.uid, c.gid); err != nil {
			os.RemoveAll(c.dir)
			return nil, err
		}
		c.runuser, _ = exec.LookPath("runuser")
	}
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := c.writeFile(pwfile, c.password+"\n"); err != nil {
		c.remove()
		return nil, err
	}
	// Password authentication over TCP, as in production; trust on the
	// socket, which only the cluster's owner can reach.
	out, err := c.command("initdb", "-D", c.data(), "-U", "postgres", "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port found may be taken before postgres binds it
		if c.port, err = freePort(); err != nil {
			c.remove()
			return nil, err
		}
		if lastErr = c.pgStart(); lastErr == nil {
			c.watchdog()
			return c, nil
		}
	}
	c.remove()
	return nil, lastErr
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// command runs a PostgreSQL program as the cluster's owner.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	prog := filepath.Join(c.bin, name)
	switch {
	case !c.asPostgres:
		return exec.Command(prog, args...)
	case c.runuser != "":
		return exec.Command(c.runuser, append([]string{"-u", "postgres", "--", prog}, args...)...)
	}
	line := shellQuote(prog)
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", line)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// writeFile writes a file the cluster's owner can read.
func (c *Cluster) writeFile(path, body string) error {
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return err
	}
	if c.asPostgres {
		return os.Chown(path, c.uid, c.gid)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// pgStart starts postgres on c.port and waits until it accepts connections.
func (c *Cluster) pgStart() error {
	// fsync=off: throwaway data; a stopped (even SIGKILLed) postgres loses
	// nothing the OS has, which is what the fault tests exercise.
	listen := c.listen
	if listen == "" {
		listen = "127.0.0.1"
	}
	opts := fmt.Sprintf("-c listen_addresses=%s -p %d -c unix_socket_directories=%s -c fsync=off -c full_page_writes=off -c max_connections=300",
		listen, c.port, c.dir)
	out, err := c.command("pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", filepath.Join(c.dir, "postgres.log"), "-o", opts).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, tail(string(log), 2000))
	}
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// watchdog stops and removes the cluster if the test process dies without
// cleaning up (a test timeout panics past every Cleanup). It holds none of
// the test's output pipes, so `go test` does not wait for it.
func (c *Cluster) watchdog() {
	stop := c.command("pg_ctl", "stop", "-D", c.data(), "-m", "immediate")
	line := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; ", os.Getpid())
	for _, a := range stop.Args {
		line += shellQuote(a) + " "
	}
	line += ">/dev/null 2>&1; rm -rf " + shellQuote(c.dir)
	w := exec.Command("/bin/sh", "-c", line)
	w.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the test process
	if err := w.Start(); err == nil {
		go w.Wait()
	}
}

// Port is the loopback port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// Password is the password of the "postgres" superuser.
func (c *Cluster) Password() string { return c.password }

// URL returns the URL of database db as the superuser, password included.
func (c *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", c.password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// URLWithoutPassword returns db's URL for a client that gets the password
// some other way (a file, the environment).
func (c *Cluster) URLWithoutPassword(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	c.mu.Lock()
	c.dbSeq++
	name := fmt.Sprintf("test_%d", c.dbSeq)
	c.mu.Unlock()
	if err := c.Exec(context.Background(), "postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	return c.URL(name)
}

// Exec runs SQL statements in database db as the superuser.
func (c *Cluster) Exec(ctx context.Context, db, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down the way an operator's restart does ("fast":
// sessions are terminated with admin_shutdown, committed data is kept).
func (c *Cluster) Stop(t testing.TB) { c.stop(t, "fast") }

// Crash stops the server as a crash would ("immediate": no shutdown
// checkpoint; committed data survives through WAL recovery on start).
func (c *Cluster) Crash(t testing.TB) { c.stop(t, "immediate") }

func (c *Cluster) stop(t testing.TB, mode string) {
	t.Helper()
	out, err := c.command("pg_ctl", "stop", "-w", "-t", "60", "-D", c.data(), "-m", mode).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// AllowFrom makes the server listen on addr too (an address of this
// machine, such as a test bridge's) and accept password logins from the
// clients in cidr, then restarts it: pods of a test node reach it so.
func (c *Cluster) AllowFrom(t testing.TB, addr, cidr string) {
	t.Helper()
	hba := filepath.Join(c.data(), "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.writeFile(hba, string(old)+"host all all "+cidr+" scram-sha-256\n"); err != nil {
		t.Fatal(err)
	}
	c.listen = "127.0.0.1," + addr
	c.stop(t, "fast")
	c.Resume(t)
}

// URLVia is URL(db) with host in place of 127.0.0.1.
func (c *Cluster) URLVia(host, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", c.password),
		Host: net.JoinHostPort(host, strconv.Itoa(c.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Resume starts a stopped server again on the same port.
func (c *Cluster) Resume(t testing.TB) {
	t.Helper()
	if err := c.pgStart(); err != nil {
		t.Fatal(err)
	}
}

// Close stops the server and removes its files.
func (c *Cluster) Close() error {
	c.mu.Lock()
	running := c.running
	c.running = false
	c.mu.Unlock()
	var err error
	if running {
		if out, serr := c.command("pg_ctl", "stop", "-w", "-t", "60", "-D", c.data(), "-m", "immediate").CombinedOutput(); serr != nil {
			err = fmt.Errorf("pg_ctl stop: %v\n%s", serr, out)
		}
	}
	c.remove()
	return err
}

func (c *Cluster) remove() { os.RemoveAll(c.dir) }
