// Command bench runs Inflow's benchmark suites. Each suite measures a figure
// side by side with its baseline in the same run and prints a table of
// figure, value, baseline and ratio, with the machine it ran on; --json
// prints one JSON object with a results array instead.
//
//	go run ./bench SUITE [--json]
//	go run ./bench list
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/inflowhq/inflow/pkg/testenv"
)

// Result is one figure of a suite.
type Result struct {
	Name          string  `json:"name"`
	Value         float64 `json:"value"`
	Unit          string  `json:"unit"`
	Baseline      string  `json:"baseline,omitempty"`
	BaselineValue float64 `json:"baseline_value,omitempty"`
	Ratio         float64 `json:"ratio,omitempty"`
	Target        string  `json:"target,omitempty"`
	Met           *bool   `json:"met,omitempty"`
}

type suite struct {
	name, about string
	run         func(args []string, progress io.Writer) ([]Result, error)
}

var suites = map[string]suite{}

func register(s suite) { suites[s.name] = s }

func machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s %s/%s", cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func main() {
	if spec := os.Getenv(soakBrokerEnv); spec != "" {
		os.Exit(soakBroker(spec)) // a child of the soak: its Kafka broker
	}
	if spec := os.Getenv(backfillNodeEnv); spec != "" {
		os.Exit(backfillNode(spec)) // a child of backfill: its replay node, on a core of its own
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "list" || args[0] == "-h" || args[0] == "--help" {
		names := make([]string, 0, len(suites))
		for n := range suites {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(stdout, "usage: go run ./bench SUITE [--json] [suite flags]\nsuites:")
		for _, n := range names {
			fmt.Fprintf(stdout, "  %-10s %s\n", n, suites[n].about)
		}
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	s, ok := suites[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "bench: unknown suite %q (go run ./bench list)\n", args[0])
		return 2
	}
	asJSON := false
	profile := ""
	var rest []string
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-json":
			asJSON = true
		case (a == "--profile" || a == "-profile") && i+1 < len(args):
			profile = args[i+1]
			i++
		default:
			rest = append(rest, a)
		}
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	res, err := s.run(rest, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", s.name, err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"suite": s.name, "machine": machine(), "took_s": time.Since(start).Seconds(), "results": res})
		return 0
	}
	fmt.Fprintf(stdout, "suite %s on %s\n\n", s.name, machine())
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tbaseline\tbaseline value\tratio\ttarget")
	for _, r := range res {
		base, bval, ratio := "-", "-", "-"
		if r.Baseline != "" {
			base, bval, ratio = r.Baseline, fmtNum(r.BaselineValue)+" "+r.Unit, fmt.Sprintf("%.2fx", r.Ratio)
		}
		target := "-"
		if r.Target != "" {
			target = r.Target
			if r.Met != nil && *r.Met {
				target += " (met)"
			} else if r.Met != nil {
				target += " (MISSED)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\n", r.Name, fmtNum(r.Value), r.Unit, base, bval, ratio, target)
	}
	tw.Flush()
	return 0
}

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.4g", v)
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	return fs.Parse(args)
}

// fixturesFlag is the --fixtures flag of the suites that read the recorded
// mainnet blocks; findFixtures fills in its default.
func fixturesFlag(fs *flag.FlagSet) *string {
	return fs.String("fixtures", "", "fixtures folder (default: ../shared/fixtures or $INFLOW_FIXTURES)")
}

// parseFixtures parses a suite's flags and finds the fixtures.
func parseFixtures(fs *flag.FlagSet, args []string, dir *string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	return findFixtures(dir)
}

func findFixtures(dir *string) error {
	if *dir != "" {
		return nil
	}
	d, ok := testenv.FixturesDir()
	if !ok {
		return fmt.Errorf("fixtures not found: pass --fixtures or set INFLOW_FIXTURES")
	}
	*dir = d
	return nil
}
