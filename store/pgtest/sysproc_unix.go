//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// setNewProcessGroup puts cmd in a process group of its own, out of reach of the terminal's
// Ctrl-C.
func setNewProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
