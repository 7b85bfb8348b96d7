package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFuzzTargetsListed: make fuzz (and so CI) runs every fuzz target of
// the repository: FUZZ_TARGETS names each package:target there is.
func TestFuzzTargetsListed(t *testing.T) {
	root, ok := RepoRoot()
	if !ok {
		t.Skip("no repository root")
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	m := regexp.MustCompile(`(?s)FUZZ_TARGETS :=(.*?)\n[A-Z]`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no FUZZ_TARGETS in the Makefile")
	}
	for _, f := range strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " ")) {
		listed[f] = true
	}
	fuzz := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	found := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != root) {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		for _, mm := range fuzz.FindAllSubmatch(b, -1) {
			found++
			if key := "./" + filepath.ToSlash(rel) + ":" + string(mm[1]); !listed[key] {
				t.Errorf("%s is not in the Makefile's FUZZ_TARGETS", key)
			}
		}
		return nil
	})
	if found != len(listed) {
		t.Errorf("%d fuzz targets in the code, %d in FUZZ_TARGETS", found, len(listed))
	}
}
