package main

// Processes of coffer bench --peers: every server, the minimal handler and
// each run of the load generator are processes of their own. Coffer's
// are this same binary (os.Executable) with another subcommand.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// benchChildEnv is set in the environment of the bench's child processes
// of this binary. The real binary ignores it; a test binary (whose
// os.Executable is not coffer) runs the command line instead of its tests.
const benchChildEnv = "COFFER_BENCH_CHILD"

// selfCommand returns a command running this binary with args.
func selfCommand(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench --peers: finding this program to start its servers: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	dieWithParent(cmd)
	return cmd, nil
}

// peerProc is a server process of the bench: its output goes to a log
// file in the bench's temporary directory, shown when something fails.
type peerProc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	stdin   io.Closer // closed to stop the process; nil = signal it
}

// startPeerProc starts cmd with its output in logPath. With lineWanted,
// it waits for the first stdout line containing lineWanted and returns it.
func startPeerProc(name string, cmd *exec.Cmd, logPath, lineWanted string) (*peerProc, string, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	defer logf.Close() // the child holds its own descriptor
	p := &peerProc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	cmd.Stderr = logf
	var stdout io.ReadCloser
	if lineWanted == "" {
		cmd.Stdout = logf
	} else if stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	lines := make(chan string, 1)
	if stdout != nil {
		// Looks for the wanted line, then drains the pipe to its end
		// (a child writing to a full pipe would block).
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if line := sc.Text(); strings.Contains(line, lineWanted) {
					lines <- line
					break
				}
			}
			close(lines)
			io.Copy(io.Discard, stdout)
		}()
	}
	go func() { cmd.Wait(); close(p.exited) }()
	if stdout == nil {
		return p, "", nil
	}
	select {
	case line, ok := <-lines:
		if ok {
			return p, line, nil
		}
	case <-time.After(2 * time.Minute):
	}
	p.stop()
	return nil, "", fmt.Errorf("%s did not start: %s", name, p.tail())
}

// pid is the process id of the server.
func (p *peerProc) pid() int { return p.cmd.Process.Pid }

// tail returns the end of the process's log.
func (p *peerProc) tail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop asks the process to end (SIGINT, or closing its stdin) and kills it
// if it has not ended after 15 seconds.
func (p *peerProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	if p.stdin != nil {
		p.stdin.Close()
	} else {
		p.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// resetPeakRSS starts a new peak of the process's resident set (VmHWM):
// writing 5 to /proc/PID/clear_refs resets it (Linux 4.0 and later).
func resetPeakRSS(pid int) error {
	return os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0)
}

// peakRSS returns the VmHWM of process pid in bytes (0 when unknown).
func peakRSS(pid int) uint64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return n * 1024
		}
	}
	return 0
}

// freeLoopbackPort returns a port that was free a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls u until it answers 200 or the process exits.
func waitHTTP(ctx context.Context, p *peerProc, u string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if res, err := http.Get(u); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer %s: %s", p.name, u, p.tail())
}

// cmdBenchMinimal is the hidden subcommand "coffer bench-minimal": the
// minimal Go handler of bench.go in a process of its own. It prints its
// URL and serves until its standard input ends.
func cmdBenchMinimal(stdin io.Reader, stdout io.Writer) error {
	m, err := startMinimalServer()
	if err != nil {
		return err
	}
	defer m.close()
	fmt.Fprintln(stdout, "minimal handler on", m.url)
	io.Copy(io.Discard, stdin)
	return nil
}

// startMinimalProc starts the minimal handler's process.
func startMinimalProc(dir string) (*peerProc, string, error) {
	cmd, err := selfCommand("bench-minimal")
	if err != nil {
		return nil, "", err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	p, line, err := startPeerProc("minimal handler", cmd, filepath.Join(dir, "minimal.log"), "minimal handler on ")
	if err != nil {
		return nil, "", err
	}
	p.stdin = in
	_, u, _ := strings.Cut(line, "minimal handler on ")
	return p, strings.TrimSpace(u), nil
}

// runLoadProc runs one measured run of spec in a load generator process.
func runLoadProc(ctx context.Context, spec peerLoadSpec) (peerLoadResult, error) {
	in, err := json.Marshal(spec)
	if err != nil {
		return peerLoadResult{}, err
	}
	cmd, err := selfCommand("bench-load")
	if err != nil {
		return peerLoadResult{}, err
	}
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errOut
	if err := cmd.Start(); err != nil {
		return peerLoadResult{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return peerLoadResult{}, ctx.Err()
	}
	if err != nil {
		return peerLoadResult{}, fmt.Errorf("load generator: %v: %s", err, strings.TrimSpace(errOut.String()))
	}
	var res peerLoadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return peerLoadResult{}, fmt.Errorf("load generator's result: %w", err)
	}
	if res.Requests == 0 {
		return res, errors.New("load generator: no request ended in the run")
	}
	return res, nil
}
