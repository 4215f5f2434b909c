package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// reaperScript waits for a line on stdin. "dismissed" means the server was stopped properly;
// end of file means the test binary died (the kernel closed its end of the pipe, whatever
// killed it), so the script stops the server and removes its files. $1 is pg_ctl, $2 the data
// dir, $3 the temp dir.
const reaperScript = `read -r word
[ "$word" = dismissed ] && exit 0
"$1" stop -D "$2" -m immediate -w -t 30 >/dev/null 2>&1
rm -rf "$3"
`

// reaper is the watchdog process that stops a cluster whose test binary died without Stop.
type reaper struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan error // receives Wait's result once
}

// startReaper starts the watchdog of s's cluster. It runs as the server's user (pg_ctl refuses
// root) in its own process group, so that a Ctrl-C sent to the test's group does not kill it
// along with the test binary it watches.
func startReaper(s *Server) (*reaper, error) {
	cmd := s.command(context.Background(), "/bin/sh", "-c", reaperScript, "pgtest-reaper", s.bin.pgCtl, s.dataDir, s.dir)
	cmd.Dir = "/"
	setNewProcessGroup(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("pgtest: watchdog stdin: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start watchdog: %w", err)
	}
	r := &reaper{cmd: cmd, in: in, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	return r, nil
}

// dismiss tells the watchdog that the server was stopped properly and waits for it to exit.
func (r *reaper) dismiss() error {
	if r == nil {
		return nil
	}
	// A failed write means the watchdog is gone already (it fired, or died); wait says how.
	_, _ = io.WriteString(r.in, "dismissed\n")
	_ = r.in.Close()
	return r.wait(10 * time.Second)
}

// wait waits up to timeout for the watchdog to exit, then kills it.
func (r *reaper) wait(timeout time.Duration) error {
	select {
	case err := <-r.done:
		r.done <- err // let a later wait see it too
		if err != nil {
			return fmt.Errorf("pgtest: watchdog: %w", err)
		}
		return nil
	case <-time.After(timeout):
		return errors.Join(fmt.Errorf("pgtest: watchdog did not exit within %s", timeout), r.cmd.Process.Kill())
	}
}
