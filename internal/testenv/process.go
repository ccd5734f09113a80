package testenv

import (
	"bufio"
	"io"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// Process is a program a test runs (our binary as server, agent or
// webhook): its stderr is collected in Logs, its stdout is read line by
// line until it announces it is ready, and it is stopped when the test
// ends, its logs shown if the test failed.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Logs *Output
	Done chan struct{} // closed once the program has exited
	// ready is closed when the announce function has accepted a line.
	ready chan struct{}
}

// Launch starts cmd without waiting for it: announce sees each line the
// program prints on stdout until it returns true, which makes the process
// ready (see WaitReady). Programs started together, such as replicas racing
// to migrate one database, are launched first and waited for after.
func Launch(t testing.TB, name string, cmd *exec.Cmd, announce func(line string) bool) *Process {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{Name: name, Cmd: cmd, Logs: &Output{}, Done: make(chan struct{}), ready: make(chan struct{})}
	cmd.Stderr = p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if announce(sc.Text()) {
				close(p.ready)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); close(p.Done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.Logs.String())
		}
	})
	return p
}

// Start is Launch, then WaitReady with a 30-second limit.
func Start(t testing.TB, name string, cmd *exec.Cmd, announce func(line string) bool) *Process {
	t.Helper()
	p := Launch(t, name, cmd, announce)
	p.WaitReady(t, 30*time.Second)
	return p
}

// WaitReady waits until the program has announced it is ready, and fails
// the test (with the program's logs) if it exits first or takes too long.
func (p *Process) WaitReady(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-p.ready:
	case <-p.Done:
		t.Fatalf("%s exited before it was ready:\n%s", p.Name, p.Logs.String())
	case <-time.After(limit):
		p.Kill()
		t.Fatalf("%s was not ready within %s:\n%s", p.Name, limit, p.Logs.String())
	}
}

// Stop ends the program as Kubernetes would (SIGTERM) and waits for it; a
// program still running 15 seconds later is killed and fails the test.
func (p *Process) Stop(t testing.TB) {
	select {
	case <-p.Done:
		return
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
	case <-time.After(15 * time.Second):
		p.Kill()
		t.Errorf("%s ignored SIGTERM for 15s", p.Name)
	}
}

// Kill ends the program with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	<-p.Done
}

// AnnouncesURL returns an announce function for programs that print where
// they listen: it stores the first submatch of re in *url.
func AnnouncesURL(re *regexp.Regexp, url *string) func(string) bool {
	return func(line string) bool {
		m := re.FindStringSubmatch(line)
		if m == nil {
			return false
		}
		*url = m[1]
		return true
	}
}
