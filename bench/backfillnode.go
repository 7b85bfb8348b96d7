package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/inflowhq/inflow/indexer/evm/evmbench"
)

// backfillNodeEnv makes the bench binary backfill's replay node, alone on
// one core (the value: fixtures folder, head, core).
const backfillNodeEnv = "INFLOW_BENCH_BACKFILL_NODE"

// A real backfill reads from a node on its own machine. On one machine the
// node and the rescan share the cores: then the node's "serving rate" with a
// reader that decodes nothing is the node on every core, and the rescan's is
// the node on what the rescan leaves it, a ratio of CPU shares rather than
// of the rescan against its node. With --cores split (the default on two
// cores or more) the node runs as its own process pinned to one core and the
// bench, readers and rescan alike, is pinned to another: the baseline is what
// that node serves, and the figure says whether the rescan keeps up with it.

// backfillNode is the child process: the replay node pinned to its core,
// serving until its standard input closes.
func backfillNode(spec string) int {
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "backfill node: want fixtures,head,core in", backfillNodeEnv)
		return 2
	}
	head, err1 := strconv.ParseUint(parts[1], 10, 64)
	core, err2 := strconv.Atoi(parts[2])
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "backfill node:", err)
		return 2
	}
	if err := pinToCore(core); err != nil {
		fmt.Fprintln(os.Stderr, "backfill node:", err)
		return 1
	}
	c, err := evmbench.Load(filepath.Join(parts[0], "evm"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "backfill node:", err)
		return 1
	}
	node, err := startReplayNode(c, head)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backfill node:", err)
		return 1
	}
	defer node.Close()
	fmt.Println(node.url)
	io.Copy(io.Discard, os.Stdin) // the parent holds the pipe: its end is ours
	return 0
}

// pinToCore runs this process on one core from now on: GOMAXPROCS 1, and
// every thread it has (a new thread inherits its creator's mask, so going
// over them until none is new covers those started meanwhile).
func pinToCore(core int) error {
	runtime.GOMAXPROCS(1)
	return setAffinity(func(s *unix.CPUSet) { s.Set(core) })
}

// allowedCores lists the cores this process may run on (a container's
// cpuset need not start at 0).
func allowedCores() ([]int, unix.CPUSet, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, set, err
	}
	var cores []int
	for i := 0; i < 1024 && len(cores) < set.Count(); i++ {
		if set.IsSet(i) {
			cores = append(cores, i)
		}
	}
	return cores, set, nil
}

func setAffinity(fill func(*unix.CPUSet)) error {
	var set unix.CPUSet
	fill(&set)
	done := map[int]bool{}
	for round := 0; round < 10; round++ {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			fresh = true
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pin thread %d: %w", tid, err)
			}
			done[tid] = true
		}
		if !fresh {
			return nil
		}
	}
	return nil
}

// splitNode starts the replay node's process on the first core this process
// may use and pins this process to the second. stop ends the node and gives
// this process its cores back.
func splitNode(fixtures string, head uint64) (url string, nodeCore, benchCore int, nodeCPU func() time.Duration, stop func(), err error) {
	cores, was, err := allowedCores()
	if err != nil {
		return "", 0, 0, nil, nil, err
	}
	if len(cores) < 2 {
		return "", 0, 0, nil, nil, fmt.Errorf("--cores split needs two cores; this process may use %v", cores)
	}
	nodeCore, benchCore = cores[0], cores[1]
	self, err := os.Executable()
	if err != nil {
		return "", 0, 0, nil, nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", backfillNodeEnv, fixtures, head, nodeCore))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, 0, nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, 0, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, 0, nil, nil, err
	}
	kill := func() { in.Close(); cmd.Process.Kill(); cmd.Wait() }
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case url = <-line:
	case <-time.After(2 * time.Minute):
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		kill()
		return "", 0, 0, nil, nil, fmt.Errorf("the replay node's process did not start (it said %q)", url)
	}
	procs := runtime.GOMAXPROCS(0)
	if err := pinToCore(benchCore); err != nil {
		kill()
		return "", 0, 0, nil, nil, err
	}
	pid := cmd.Process.Pid
	return url, nodeCore, benchCore, func() time.Duration { return procCPU(pid) }, func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		runtime.GOMAXPROCS(procs)
		setAffinity(func(s *unix.CPUSet) { *s = was })
	}, nil
}

// procCPU is the CPU time process pid has used so far, every thread's
// (their schedstat: nanoseconds on a CPU, user and system alike), or 0 where
// /proc does not say.
func procCPU(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				sum += time.Duration(ns)
			}
		}
	}
	return sum
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() (user, sys time.Duration) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
