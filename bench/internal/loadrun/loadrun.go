// Package loadrun holds what the load generators under bench/ share: a
// closed-loop load bounded in time and count, latency percentiles, a
// process's CPU time, and waiting for a started binary to say where it
// listens.
package loadrun

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one load run measured.
type Result struct {
	Latencies []time.Duration // of successful requests, when recorded
	Requests  int64           // attempted
	Failures  int64
	FirstErr  error
	Elapsed   time.Duration
}

// Run drives do from conns goroutines, each sending its next request as
// soon as the last one answers, until d has passed or max requests were
// sent. Request i of connection c is do(c + k*conns), so callers can spread
// requests over their inputs.
func Run(conns int, d time.Duration, max int64, record bool, do func(i int) error) Result {
	var (
		n, failures atomic.Int64
		mu          sync.Mutex
		res         Result
		wg          sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			if record {
				lat = make([]time.Duration, 0, 1<<14)
			}
			for i := c; time.Now().Before(deadline) && n.Add(1) <= max; i += conns {
				t := time.Now()
				if err := do(i); err != nil {
					if failures.Add(1) == 1 {
						mu.Lock()
						res.FirstErr = err
						mu.Unlock()
					}
					continue
				}
				if record {
					lat = append(lat, time.Since(t))
				}
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = min(n.Load(), max)
	res.Failures = failures.Load()
	return res
}

// Percentile returns the p-th percentile (0-100) of d, sorting d.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p/100)].Round(time.Microsecond)
}

// CPUTime is the user+system CPU time a process has used, from /proc.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name: utime and stime are
	// fields 14 and 15 of the line, in clock ticks (100 Hz on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// WaitFor reads r (a started binary's stdout) until a line matches re and
// returns its first submatch; the rest of r is drained in the background.
func WaitFor(r io.Reader, re *regexp.Regexp) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, r)
			return m[1], nil
		}
	}
	return "", fmt.Errorf("the process exited before printing a line matching %s", re)
}
