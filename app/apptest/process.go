package apptest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is the real mospay binary running as a child of the test (see BuildBinary): for the
// tests of start-up, shutdown and crashes, which only a real process shows.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	// Output is what the process wrote to stdout and stderr.
	Output *LogBuffer
	done   chan struct{} // closed once the process has exited; err is then set
	err    error
}

// ChildEnv is a clean environment for a child: no MOSPAY_ variable of the developer's leaks in.
func ChildEnv(dir string, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.TempDir()}, extra...)
}

// StartProcess runs bin with args and env in dir. It is killed when the test ends if it still
// runs, and if the test binary dies first (Pdeathsig); its output is logged if the test failed.
func StartProcess(t testing.TB, name, bin, dir string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, Output: &LogBuffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Dir = dir
	p.Cmd.Env = env
	p.Cmd.Stdout, p.Cmd.Stderr = p.Output, p.Output
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.Kill()
		if t.Failed() {
			t.Logf("%s (output tail):\n%s", name, p.Output.Tail(4000))
		}
	})
	return p
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not die within 10s of SIGKILL", p.Name)
	}
}

// Wait waits up to d for the process to exit and returns its exit code.
func (p *Process) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s still running after %s", p.Name, d)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.Name, p.err)
	return -1
}

// WaitReady polls url until it answers 200; it fails when the process exits first or timeout
// passes.
func (p *Process) WaitReady(url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if res, err := hc.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.Name, p.err, p.Output.Tail(3000))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready at %s within %s:\n%s", p.Name, url, timeout, strings.TrimSpace(p.Output.Tail(3000)))
}
