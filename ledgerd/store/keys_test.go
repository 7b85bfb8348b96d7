package store

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inflowhq/inflow/pkg/chain"
	"github.com/inflowhq/inflow/pkg/testenv"
)

// TestKeyTable: doc.go's key table is Families, row for row.
func TestKeyTable(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "# Key layout")
	if !ok {
		t.Fatal("doc.go has no key layout")
	}
	row := regexp.MustCompile(`^//\t(.+?)\s{2,}(.+)$`)
	var got []Family
	for _, line := range strings.Split(after, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			got = append(got, Family{Layout: m[1], Holds: m[2]})
		} else if len(got) > 0 {
			break
		}
	}
	if len(got) != len(Families) {
		t.Fatalf("doc.go lists %d families, Families %d", len(got), len(Families))
	}
	prefixes := map[string]bool{}
	for i, f := range Families {
		if got[i].Layout != f.Layout || got[i].Holds != f.Holds {
			t.Errorf("row %d: doc.go says %q %q, Families %q %q", i, got[i].Layout, got[i].Holds, f.Layout, f.Holds)
		}
		if !strings.HasPrefix(f.Layout, f.Prefix) || !strings.HasSuffix(f.Prefix, "/") {
			t.Errorf("family %s: layout %q", f.Prefix, f.Layout)
		}
		if prefixes[f.Prefix] {
			t.Errorf("prefix %s twice", f.Prefix)
		}
		prefixes[f.Prefix] = true
	}
	for p := range prefixes {
		for q := range prefixes {
			if p != q && strings.HasPrefix(q, p) {
				t.Errorf("prefix %s is a prefix of %s", p, q)
			}
		}
	}
}

// TestConstructors: every constructor's key is in a family of the table,
// and the readers read back what the constructors wrote.
func TestConstructors(t *testing.T) {
	a := chain.EVMAddress([20]byte{0, 1, 0, 2})
	at := time.Unix(1_800_000_000, 123)
	keys := [][]byte{MerchantKey("mer_1"), APIKeyKey(make([]byte, 32)), PoolAddressKey(a), AddressIDKey(7), MerchantPoolKey("mer_1", 7),
		AvailableKey("mer_1", chain.FamilyEVM, 7), CooldownKey("mer_1", chain.FamilyEVM, at.UnixNano(), 7), ConflictKey(a, "mer_2"),
		ReferenceKey("mer_1", "alice"), BindingKey(7, at.UnixNano()), DepositKey("dep_1"), BlockStatusKey("dep_0000"),
		MerchantIndexKey("mer_1", at, "dep_1"), BlockIndexKey("evm-devnet", 5, chain.Hash{}, "dep_1"),
		OrphanedTransferKey(TransferName("evm-devnet", []byte{1}, 2)), AccountKey("mer_1", "alice"), ChainStateKey("evm-devnet"),
		CanonKey("evm-devnet", 5), OutboxKey(1), OffsetKey("t", 3), IdempotencyKey("mer_1", "k"), IdempotencyExpiryKey(at, "mer_1", "k"),
		EndpointKey("mer_1", "we_1"), EventKey("evt_1"), DeliveryKey("wd_1"), DeliveryLogKey("we_1", at, "wd_1"), DueKey(at, "wd_1"),
		CounterKey("address"), MerchantCountKey("mer_1", "idempotency")}
	keys = append(keys, OldOpenIndexPrefixes("evm-devnet")...)
	keys = append(keys, OldBalancePrefix(), OldRefStatsPrefix())
	for _, k := range keys {
		n := 0
		for _, f := range Families {
			if bytes.HasPrefix(k, []byte(f.Prefix)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("key %q is in %d families", k, n)
		}
	}
	if m, f, until, id, ok := CooldownOf(CooldownKey("mer_1", chain.FamilyEVM, -5, 9)); !ok || m != "mer_1" || f != chain.FamilyEVM || until != -5 || id != 9 {
		t.Errorf("CooldownOf: %q %v %d %d %v", m, f, until, id, ok)
	}
	if got, c, ok := ConflictOf(ConflictKey(a, "mer_2")); !ok || got != a || c != "mer_2" {
		t.Errorf("ConflictOf: %v %q %v", got, c, ok)
	}
	if ts, id, ok := DueOf(DueKey(at, "wd_1")); !ok || ts != at.UnixNano() || id != "wd_1" {
		t.Errorf("DueOf: %d %q %v", ts, id, ok)
	}
	if c, m, k, ok := IdempotencyExpiryOf(IdempotencyExpiryKey(at, "mer_1", "k\x00x")); !ok || c != at.UnixNano() || m != "mer_1" || k != "k\x00x" {
		t.Errorf("IdempotencyExpiryOf: %d %q %q %v", c, m, k, ok)
	}
	if id := DeliveryLogID("we_1", DeliveryLogKey("we_1", at, "wd_1")); id != "wd_1" {
		t.Errorf("DeliveryLogID: %q", id)
	}
	// Times sort as signed numbers.
	if bytes.Compare(CooldownKey("m", 1, -1, 0), CooldownKey("m", 1, 1, 0)) >= 0 {
		t.Error("a negative time sorts after a positive one")
	}
}

// TestNoKeyLiterals: outside this package, no Go file (tests included)
// writes a string literal that begins with a key prefix: keys come from the
// constructors here.
func TestNoKeyLiterals(t *testing.T) {
	root, ok := testenv.RepoRoot()
	if !ok {
		t.Fatal("no repository root")
	}
	self, _ := filepath.Abs(".")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == self || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, fam := range Families {
				if strings.HasPrefix(s, fam.Prefix) {
					t.Errorf("%s: the string %q begins with the key prefix %s of %s", fset.Position(lit.Pos()), s, fam.Prefix, fam.Layout)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
