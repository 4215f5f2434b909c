package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The load generator, the baselines, the sandbox, PostgreSQL, the event receivers and mospay
// share the machine's cores, so a ratio says how fast a path is but not whose work bounds it. So
// every timed scenario also reports how much CPU the whole machine was busy per 2xx answer, and
// mospay's scenarios how much of it was mospay's own: a gap between two rows can then be split
// by process. Under full load the cores are busy all the time, so the figure per answer follows
// throughput and is as noisy as it (a spell in which the host gives the machine less makes every
// tick do less); mospay's share of it is much steadier.

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on every Linux the bench runs on).
const clockTick = 10 * time.Millisecond

// cpuUse is the CPU a scenario took.
type cpuUse struct {
	Machine time.Duration // busy time of every CPU of the machine, summed
	Serve   time.Duration // mospay serve's own, user and system (0 for the baselines)
}

// cpuSnapshot is the CPU counters at one moment.
type cpuSnapshot struct {
	machine, serve time.Duration
	ok             bool
}

// readCPU reads the machine's busy time and, when pid > 0, that process's CPU time. A machine
// without /proc gives a snapshot that is not ok, and no CPU figures are reported.
func readCPU(pid int) cpuSnapshot {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSnapshot{}
	}
	m, err := parseProcStat(b)
	if err != nil {
		return cpuSnapshot{}
	}
	s := cpuSnapshot{machine: m, ok: true}
	if pid > 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return cpuSnapshot{}
		}
		if s.serve, err = parsePidStat(b); err != nil {
			return cpuSnapshot{}
		}
	}
	return s
}

// since is the CPU taken between from and s; zero when either could not be read.
func (s cpuSnapshot) since(from cpuSnapshot) cpuUse {
	if !s.ok || !from.ok {
		return cpuUse{}
	}
	return cpuUse{Machine: s.machine - from.machine, Serve: s.serve - from.serve}
}

// parseProcStat reads the machine's busy time from /proc/stat's first line ("cpu  user nice
// system idle iowait irq softirq steal guest guest_nice", in clock ticks): everything but idle,
// iowait and steal (time the hypervisor gave to another machine). guest is already in user.
func parseProcStat(b []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy int64
	for i, name := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq"} {
		v, err := strconv.ParseInt(f[1+i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %s: %w", name, err)
		}
		if name != "idle" && name != "iowait" {
			busy += v
		}
	}
	return time.Duration(busy) * clockTick, nil
}

// parsePidStat reads a process's user and system CPU time from /proc/<pid>/stat: fields 14 and
// 15, counted after the command name, which is in parentheses and may hold spaces.
func parsePidStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc/<pid>/stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, f[11]; stime f[12].
	if len(f) < 13 {
		return 0, errors.New("/proc/<pid>/stat: too few fields")
	}
	var t int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/<pid>/stat: %w", err)
		}
		t += v
	}
	return time.Duration(t) * clockTick, nil
}

// perAnswer is d spread over n answers, in µs; -1 when there is nothing to spread.
func perAnswer(d time.Duration, n int) float64 {
	if d <= 0 || n <= 0 {
		return -1
	}
	return float64(d.Microseconds()) / float64(n)
}
