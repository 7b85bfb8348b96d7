package merchantapi

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/inflowhq/inflow/pkg/apierr"
	"github.com/inflowhq/inflow/pkg/assets"
	"github.com/inflowhq/inflow/pkg/chain"
)

func code(err error) apierr.Code {
	if err == nil {
		return ""
	}
	return apierr.From(err).Code
}

// TestPublicIP: public IPv4 and IPv6 literals pass; every non-public range
// is refused, in each form that carries an IPv4 address inside IPv6.
func TestPublicIP(t *testing.T) {
	for _, c := range []struct {
		ip     string
		public bool
	}{
		// Real public addresses, IPv4 (which ::ffff:0:0/96 used to refuse,
		// every one of them) and IPv6.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.215.14", true},
		{"140.82.112.3", true},
		{"2606:4700:4700::1111", true},
		{"2001:4860:4860::8888", true},
		{"2a00:1450:4001:82b::200e", true},
		{"::ffff:8.8.8.8", true}, // IPv4-mapped: the IPv4 address it is
		{"64:ff9b::808:808", true},
		{"2002:808:808::1", true},
		// Not public.
		{"127.0.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"224.0.0.1", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"fec0::1", false},
		{"100::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::127.0.0.1", false},               // IPv4-compatible
		{"::10.0.0.1", false},                // IPv4-compatible
		{"::ffff:0:10.0.0.1", false},         // IPv4-translated
		{"64:ff9b::7f00:1", false},           // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false},        // NAT64 of 169.254.169.254
		{"64:ff9b:1::a00:1", false},          // local-use NAT64 of 10.0.0.1
		{"2002:7f00:1::1", false},            // 6to4 of 127.0.0.1
		{"2002:a00:1::1", false},             // 6to4 of 10.0.0.1
		{"2001:0:a00:1::1", false},           // Teredo, server 10.0.0.1
		{"2001:0:808:808::80ff:fefe", false}, // Teredo, client 127.0.1.1 (XOR ff)
	} {
		ip := net.ParseIP(c.ip)
		if ip == nil {
			t.Fatalf("bad literal %q", c.ip)
		}
		if got := PublicIP(ip); got != c.public {
			t.Errorf("PublicIP(%s) = %v, want %v", c.ip, got, c.public)
		}
		if ip4 := ip.To4(); len(ip4) == 4 {
			if got := PublicIP(ip4); got != c.public {
				t.Errorf("PublicIP(%s as 4 bytes) = %v, want %v", c.ip, got, c.public)
			}
		}
	}
}

// TestWebhookURLs: public https URLs are accepted, IPv4 literals included.
func TestWebhookURLs(t *testing.T) {
	for _, c := range []struct {
		url  string
		code apierr.Code
	}{
		{"https://8.8.8.8/h", ""},
		{"https://[2606:4700:4700::1111]/h", ""},
		{"https://example.com/hooks", ""},
		{"https://10.1.2.3/h", apierr.InvalidWebhookURL},
		{"https://[::ffff:10.1.2.3]/h", apierr.InvalidWebhookURL},
		{"https://[64:ff9b::a9fe:a9fe]/latest", apierr.InvalidWebhookURL},
		{"http://example.com/h", apierr.InvalidWebhookURL},
		{"https://user:pw@example.com/h", apierr.InvalidWebhookURL},
	} {
		r := EndpointRequest{URL: c.url}
		if got := code(r.Validate(false)); got != c.code {
			t.Errorf("%s: %q, want %q", c.url, got, c.code)
		}
	}
	dup := EndpointRequest{URL: "https://example.com/h", Events: []string{"deposit.pending", "deposit.pending"}}
	if got := code(dup.Validate(false)); got != apierr.ValidationFailed {
		t.Errorf("duplicate event names: %q", got)
	}
}

// TestStrictJSON: bodies that encoding/json would read leniently are refused.
func TestStrictJSON(t *testing.T) {
	for _, c := range []struct {
		name, body string
		code       apierr.Code
	}{
		{"ok", `{"depositReference":"a","currency":"USDT","chainId":"evm-devnet","metadata":{"k":"v","n":{"x":1}}}`, ""},
		{"duplicate key", `{"depositReference":"a","depositReference":"b"}`, apierr.InvalidJSON},
		{"duplicate key in metadata", `{"depositReference":"a","metadata":{"k":1,"k":2}}`, apierr.InvalidJSON},
		{"duplicate key deep inside metadata", `{"metadata":{"k":{"x":1,"x":2}}}`, apierr.InvalidJSON},
		{"key of another case", `{"DepositReference":"a"}`, apierr.ValidationFailed},
		{"unknown field", `{"depositReference":"a","chain":"x"}`, apierr.ValidationFailed},
		{"invalid UTF-8", "{\"depositReference\":\"a\xff\"}", apierr.InvalidJSON},
		{"not an object", `["a"]`, apierr.InvalidJSON},
		{"trailing data", `{"depositReference":"a"} {}`, apierr.InvalidJSON},
		{"truncated", `{"depositReference":`, apierr.InvalidJSON},
		{"wrong type", `{"depositReference":7}`, apierr.ValidationFailed},
	} {
		var v BindRequest
		if got := code(UnmarshalStrict([]byte(c.body), &v)); got != c.code {
			t.Errorf("%s: %q, want %q", c.name, got, c.code)
		}
	}
}

// TestReferences: the reference alphabet.
func TestReferences(t *testing.T) {
	for _, c := range []struct {
		ref  string
		code apierr.Code
	}{
		{"user_alice_123", ""},
		{"order 2024-001", ""},
		{"Zürich-ß-日本", ""},
		{"a.b", ""},
		{"", apierr.ValidationFailed},
		{strings.Repeat("r", 255), ""},
		{strings.Repeat("é", 255), ""},
		{strings.Repeat("r", 256), apierr.ReferenceTooLong},
		{"a/b", apierr.InvalidDepositReference},
		{"a\\b", apierr.InvalidDepositReference},
		{"a%2F", apierr.InvalidDepositReference},
		{"a?b", apierr.InvalidDepositReference},
		{"a#b", apierr.InvalidDepositReference},
		{".", apierr.InvalidDepositReference},
		{"..", apierr.InvalidDepositReference},
		{"a\x00b", apierr.InvalidDepositReference},
		{"a\tb", apierr.InvalidDepositReference},
		{"a\u0085b", apierr.InvalidDepositReference},   // NEL, a C1 control
		{"dupB\u200b", apierr.InvalidDepositReference}, // zero-width space
		{"a\u200db", apierr.InvalidDepositReference},   // zero-width joiner
		{"a\ufeffb", apierr.InvalidDepositReference},   // BOM
		{"a\u202eb", apierr.InvalidDepositReference},   // right-to-left override
		{"a\u2066b", apierr.InvalidDepositReference},   // left-to-right isolate
		{"a\u200fb", apierr.InvalidDepositReference},   // right-to-left mark
		{"a\u2028b", apierr.InvalidDepositReference},   // line separator
		{"a\u00a0b", apierr.InvalidDepositReference},   // no-break space
		{"a\ue000b", apierr.InvalidDepositReference},   // private use
		{"a\ufffdb", apierr.InvalidDepositReference},
		{"a\xffb", apierr.InvalidDepositReference},
		{" a", apierr.InvalidDepositReference},
		{"a ", apierr.InvalidDepositReference},
		{"e\u0301", apierr.InvalidDepositReference}, // not NFC (é decomposed)
		{"\u00e9", ""},
	} {
		if got := code(ValidateReference(c.ref)); got != c.code {
			t.Errorf("ValidateReference(%q) = %q, want %q", c.ref, got, c.code)
		}
	}
}

func TestContentType(t *testing.T) {
	for _, c := range []struct {
		header string
		code   apierr.Code
	}{
		{"", ""},
		{"application/json", ""},
		{"application/json; charset=utf-8", ""},
		{"Application/JSON; charset=UTF-8", ""},
		{"text/plain", apierr.UnsupportedMediaType},
		{"application/x-www-form-urlencoded", apierr.UnsupportedMediaType},
		{"multipart/form-data; boundary=x", apierr.UnsupportedMediaType},
		{"application/json; charset=latin1", apierr.UnsupportedMediaType},
		{"application/jsonx", apierr.UnsupportedMediaType},
		{"bogus;;", apierr.UnsupportedMediaType},
	} {
		if got := code(CheckContentType(c.header, 2)); got != c.code {
			t.Errorf("Content-Type %q: %q, want %q", c.header, got, c.code)
		}
	}
}

// TestImportAddresses: addresses with spaces around them are refused.
func TestImportAddresses(t *testing.T) {
	for _, c := range []struct {
		addr string
		code apierr.Code
	}{
		{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", ""},
		{" 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", apierr.InvalidAddress},
		{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n", apierr.InvalidAddress},
		{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed ", apierr.InvalidAddress},
	} {
		r := ImportRequest{Protocol: "evm", Addresses: []string{c.addr}}
		if _, err := r.Parse(); code(err) != c.code {
			t.Errorf("import %q: %v, want %q", c.addr, err, c.code)
		}
	}
}

// TestImportBitcoin: every depositable type on every network, one network
// per import, and no raw scripts, future witness versions or bad bech32.
func TestImportBitcoin(t *testing.T) {
	for _, c := range []struct {
		addrs []string
		code  apierr.Code
		net   chain.Network
	}{
		{[]string{"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
			"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"}, "", chain.NetworkMainnet},
		{[]string{"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"}, "", chain.NetworkTestnet},
		{[]string{"mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"}, "", chain.NetworkRegtest},
		{[]string{"mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"}, "", chain.NetworkTestnet},
		{[]string{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"}, apierr.InvalidAddress, 0},
		{[]string{"mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"}, apierr.InvalidAddress, 0},
		{[]string{"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"}, apierr.InvalidAddress, 0},
		{[]string{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"}, apierr.InvalidAddress, 0}, // bad checksum
		{[]string{"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3t4"}, apierr.InvalidAddress, 0}, // mixed case
		{[]string{"bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"}, apierr.InvalidAddress, 0},       // witness v2
		{[]string{"script:0014751e76e8199196d454941c45d1b3a323f1433bd6"}, apierr.InvalidAddress, 0},
	} {
		r := ImportRequest{Protocol: "bitcoin", Addresses: c.addrs}
		imp, err := r.Parse()
		if code(err) != c.code {
			t.Errorf("import %q: %v, want %q", c.addrs, err, c.code)
			continue
		}
		if err == nil && (imp.Network != c.net || imp.Family != chain.FamilyBitcoin || len(imp.Addresses) != len(c.addrs)) {
			t.Errorf("import %q: %+v, want network %s", c.addrs, imp, c.net)
		}
	}
}

// TestRouteTable: names and patterns are unique, every path parameter has a
// kind, every {name} in a path is a declared parameter and back, and the
// internal paths are the public ones under /internal/v1.
func TestRouteTable(t *testing.T) {
	names, patterns := map[string]bool{}, map[string]bool{}
	for _, rt := range Routes {
		if rt.Name == "" || names[rt.Name] {
			t.Errorf("route %s: empty or duplicate name %q", rt.Pattern(), rt.Name)
		}
		names[rt.Name] = true
		if patterns[rt.Pattern()] {
			t.Errorf("duplicate pattern %s", rt.Pattern())
		}
		patterns[rt.Pattern()] = true
		if rt.Status == 0 || rt.Response == "" || rt.Summary == "" {
			t.Errorf("route %s: status, response or summary missing", rt.Name)
		}
		inPath := map[string]bool{}
		for _, seg := range strings.Split(rt.Path, "/") {
			if n, ok := strings.CutPrefix(seg, "{"); ok {
				inPath[strings.TrimSuffix(n, "}")] = true
			}
		}
		for _, p := range rt.PathParams() {
			if !inPath[p.Name] || p.Kind == 0 || !p.Required {
				t.Errorf("route %s: path parameter %s not in the path, of no kind, or optional", rt.Name, p.Name)
			}
			delete(inPath, p.Name)
		}
		for n := range inPath {
			t.Errorf("route %s: {%s} is not a declared parameter", rt.Name, n)
		}
		switch rt.Auth {
		case AuthAdmin:
			if !strings.HasPrefix(rt.Path, "/admin/v1/") || !strings.HasPrefix(rt.InternalPath(), "/internal/v1/admin/") {
				t.Errorf("admin route %s at %s → %s", rt.Name, rt.Path, rt.InternalPath())
			}
		default:
			if !strings.HasPrefix(rt.Path, "/api/v1/") || rt.InternalPath() != "/internal/v1/"+strings.TrimPrefix(rt.Path, "/api/v1/") {
				t.Errorf("merchant route %s at %s → %s", rt.Name, rt.Path, rt.InternalPath())
			}
		}
		if (rt.Method == http.MethodGet || rt.Method == http.MethodDelete) && rt.Body != "" {
			t.Errorf("route %s: a %s with a body", rt.Name, rt.Method)
		}
	}
}

// TestUpstream: a path parameter can only ever be one escaped segment of the
// route's own internal path; anything that could climb out is refused first.
func TestUpstream(t *testing.T) {
	get := RouteByName("getDepositReference")
	replay := RouteByName("replayWebhookEvent")
	for _, c := range []struct {
		rt    *Route
		value string
		want  string
		code  apierr.Code
	}{
		{get, "user_alice", "/internal/v1/deposits/references/user_alice", ""},
		{get, "a b", "/internal/v1/deposits/references/a%20b", ""},
		{get, "Zürich", "/internal/v1/deposits/references/Z%C3%BCrich", ""},
		{get, "../../../../metrics", "", apierr.InvalidDepositReference},
		{get, "..", "", apierr.InvalidDepositReference},
		{get, "%", "", apierr.InvalidDepositReference},
		{get, "\x00", "", apierr.InvalidDepositReference},
		{replay, "evt_0123456789abcdef01234567", "/internal/v1/webhooks/events/evt_0123456789abcdef01234567/replay", ""},
		{replay, "../../admin/merchants?", "", apierr.EventNotFound},
		{replay, "evt_0123456789abcdef01234567/..", "", apierr.EventNotFound},
		{replay, "\x00", "", apierr.EventNotFound},
	} {
		got, err := c.rt.Upstream(func(string) string { return c.value })
		if code(err) != c.code || got != c.want {
			t.Errorf("%s %q: %q %v, want %q %q", c.rt.Name, c.value, got, err, c.want, c.code)
		}
	}
}

// TestValidation: each route's validation on a few bad inputs.
func TestValidation(t *testing.T) {
	table := assets.Default()
	for _, c := range []struct {
		route, query, body string
		code               apierr.Code
	}{
		{"createDepositReference", "", `{"depositReference":"a","currency":"USDT","chainId":"evm-devnet"}`, ""},
		{"createDepositReference", "", `{"depositReference":"a/b","currency":"USDT","chainId":"evm-devnet"}`, apierr.InvalidDepositReference},
		{"listDeposits", "depositReference=a%E2%80%8Bb", "", apierr.InvalidDepositReference},
		{"listBalances", "depositReference=..", "", apierr.InvalidDepositReference},
		{"listDepositReferences", "search=" + strings.Repeat("x", 256), "", apierr.InvalidParameter},
		{"replayWebhookEvent", "", `{}`, apierr.ValidationFailed},
		{"rotateWebhookSecret", "", ``, ""},
		{"rotateWebhookSecret", "", `{"overlapSeconds":3600}`, ""},
		{"rotateWebhookSecret", "", `{"overlapSeconds":-1}`, apierr.ValidationFailed},
		{"rotateWebhookSecret", "", `{"overlapSeconds":604801}`, apierr.ValidationFailed},
		{"createMerchant", "", `{"name":"shop"}`, ""},
		{"createMerchant", "", `{"name":" shop"}`, apierr.ValidationFailed},
		{"createMerchant", "", `{"name":"x","Live":true}`, apierr.ValidationFailed},
		{"reassignAddress", "", `{"protocol":"evm","address":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed","merchantId":"mer_0123456789abcdef"}`, ""},
		{"reassignAddress", "", `{"protocol":"evm","address":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed","merchantId":"../x"}`, apierr.ValidationFailed},
	} {
		rt := RouteByName(c.route)
		q, _ := url.ParseQuery(c.query)
		in := &Input{Query: q, Body: []byte(c.body), Assets: table}
		if got := code(rt.Validate(in)); got != c.code {
			t.Errorf("%s %q %s: %q, want %q", c.route, c.query, c.body, got, c.code)
		}
	}
}

func TestIdempotencyKeys(t *testing.T) {
	for _, c := range []struct {
		key string
		ok  bool
	}{
		{"k-1", true}, {"3f2c0b8e-6b1a-4d4e-9a55-0f7f1f0f8b2a", true}, {strings.Repeat("k", 255), true},
		{strings.Repeat("k", 256), false}, {"a b", false}, {"a\x00", false}, {"é", false},
	} {
		if err := ValidateIdempotencyKey(c.key); (err == nil) != c.ok {
			t.Errorf("Idempotency-Key %q: %v", c.key, err)
		}
	}
}

// TestImportDescriptor: a range derived from an extended public key, on
// Bitcoin (the BIP84 vector) and EVM (m/44'/60'/0'/0/i), in its key's
// network or the one asked for; and the refusals.
func TestImportDescriptor(t *testing.T) {
	zpub := "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
	one := uint32(1)
	r := ImportRequest{Protocol: "bitcoin", Descriptor: "wpkh(" + zpub + "/0/*)", From: &one, Count: 2}
	imp, err := r.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Addresses) != 2 || imp.Network != chain.NetworkMainnet || imp.Addresses[0].Text(imp.Network) != "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g" {
		t.Fatalf("import %+v", imp)
	}
	// A tpub for regtest: the same scripts, listed as bcrt1….
	tpub := "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp"
	r = ImportRequest{Protocol: "bitcoin", Descriptor: "tr(" + tpub + "/0/*)", Count: 3, Network: "regtest"}
	if imp, err = r.Parse(); err != nil || imp.Network != chain.NetworkRegtest || !strings.HasPrefix(imp.Addresses[0].Text(imp.Network), "bcrt1p") {
		t.Fatalf("regtest import: %+v %v", imp, err)
	}
	for _, c := range []struct {
		r    ImportRequest
		code apierr.Code
	}{
		{ImportRequest{Protocol: "bitcoin", Descriptor: "wpkh(" + zpub + "/0/*)", Count: 0}, apierr.ValidationFailed},
		{ImportRequest{Protocol: "bitcoin", Descriptor: "wpkh(" + zpub + "/0/*)", Count: MaxImport + 1}, apierr.ValidationFailed},
		{ImportRequest{Protocol: "bitcoin", Descriptor: "wpkh(" + zpub + "/0/*)", Count: 1, Addresses: []string{"bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"}}, apierr.ValidationFailed},
		{ImportRequest{Protocol: "bitcoin", Descriptor: "wpkh(" + zpub + "/0/*)", Count: 1, Network: "regtest"}, apierr.ValidationFailed},
		{ImportRequest{Protocol: "bitcoin", Addresses: []string{"bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"}, Count: 1}, apierr.ValidationFailed},
		{ImportRequest{Protocol: "bitcoin", Descriptor: "wpkh(xprv9s21ZrQH143K3GJpoapnV8SFfukcVBSfeCficPSGfubmSFDxo1kuHnLisriDvSnRRuL2Qrg5ggqHKNVpxR86QEC8w35uxmGoggxtQTPvfUu/0/*)", Count: 1}, apierr.InvalidAddress},
		{ImportRequest{Protocol: "solana", Descriptor: zpub, Count: 1}, apierr.ValidationFailed},
		{ImportRequest{Protocol: "evm", Descriptor: "wpkh(" + zpub + "/0/*)", Count: 1}, apierr.InvalidAddress},
	} {
		if _, err := c.r.Parse(); code(err) != c.code {
			t.Errorf("%+v: %v, want %s", c.r, err, c.code)
		}
	}
}
