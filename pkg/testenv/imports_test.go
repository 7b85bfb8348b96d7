package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/inflowhq/inflow/"

// sdks are the chain SDKs; only indexer/<chain> and pkg/devnet import them.
var sdks = []string{"github.com/ethereum/go-ethereum", "github.com/gagliardetto/solana-go", "github.com/fbsobreira/gotron-sdk", "github.com/btcsuite/"}

type goPackage struct {
	ImportPath, Name string
	Imports, Deps    []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	root, ok := RepoRoot()
	if !ok {
		t.Fatal("no repository root")
	}
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

func within(path string, dirs ...string) bool {
	for _, d := range dirs {
		if path == module+d || strings.HasPrefix(path, module+d+"/") {
			return true
		}
	}
	return false
}

func isSDK(path string) bool {
	for _, s := range sdks {
		if strings.HasPrefix(path, s) {
			return true
		}
	}
	return false
}

// TestForbiddenImports holds DESIGN's layout rules (after pebble's test of
// the same name), over the packages' own imports, tests left out:
//
//   - pkg/ never imports a daemon (apid, ledgerd, indexer, deploy, bench);
//   - apid links neither Pebble, a chain SDK nor the kfake broker;
//   - chain SDKs are imported only by indexer/<chain> and pkg/devnet;
//   - no package is named common, util or helpers.
func TestForbiddenImports(t *testing.T) {
	for _, p := range listPackages(t) {
		switch p.Name {
		case "common", "util", "utils", "helpers":
			t.Errorf("%s: a package named %q says nothing of what it provides", p.ImportPath, p.Name)
		}
		if within(p.ImportPath, "pkg") {
			for _, imp := range p.Imports {
				if within(imp, "apid", "ledgerd", "indexer", "deploy", "bench") {
					t.Errorf("%s imports the daemon package %s", p.ImportPath, imp)
				}
			}
		}
		if within(p.ImportPath, "apid") {
			for _, dep := range p.Deps {
				if strings.HasPrefix(dep, "github.com/cockroachdb/pebble") || strings.HasPrefix(dep, "github.com/twmb/franz-go/pkg/kfake") || isSDK(dep) {
					t.Errorf("%s links %s", p.ImportPath, dep)
				}
			}
		}
		chainPkg := within(p.ImportPath, "pkg/devnet")
		for _, c := range []string{"evm", "bitcoin", "tron", "solana"} {
			chainPkg = chainPkg || within(p.ImportPath, "indexer/"+c)
		}
		if !chainPkg {
			for _, imp := range p.Imports {
				if isSDK(imp) {
					t.Errorf("%s imports the chain SDK %s: only indexer/<chain> and pkg/devnet do", p.ImportPath, imp)
				}
			}
		}
	}
}
