//go:build !unix

package pgtest

import "os/exec"

// setNewProcessGroup does nothing where process groups do not exist.
func setNewProcessGroup(*exec.Cmd) {}
