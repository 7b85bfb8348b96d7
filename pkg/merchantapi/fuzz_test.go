package merchantapi

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/inflowhq/inflow/pkg/assets"
)

// The merchant API's request decoding reads what anyone sends: any body,
// query and path parameter is an error or a valid request, never a panic;
// a path parameter that passes can never change the internal path's
// segments.

func FuzzRequests(f *testing.F) {
	var bodies []int
	for i := range Routes {
		if Routes[i].Validate != nil {
			bodies = append(bodies, i)
		}
	}
	for name, ex := range BodyExamples {
		for j, i := range bodies {
			if Routes[i].Name == name {
				f.Add(uint8(j), []byte(ex), "page=1&limit=20")
			}
		}
	}
	f.Add(uint8(0), []byte(`{"depositReference":"a","currency":"USDT","chainId":"ethereum","metadata":{"a":1,"a":2}}`), "")
	f.Add(uint8(1), []byte("{\"protocol\":\"bitcoin\",\"descriptor\":\"wpkh(xpub/0/*)\",\"count\":5}"), "status=pending&sortBy=amount")
	table := assets.Default()
	f.Fuzz(func(t *testing.T, which uint8, body []byte, query string) {
		rt := &Routes[bodies[int(which)%len(bodies)]]
		q, err := url.ParseQuery(query)
		if err != nil {
			q = url.Values{}
		}
		in := &Input{Query: q, Body: body, Path: func(string) string { return "user_alice" }, Assets: table}
		_ = rt.Validate(in)
		// The query parsers every listing uses.
		_, _ = ParsePage(q)
		_, _ = ParseDepositQuery(q, table)
		_, _ = ParseBalanceQuery(q)
		_, _ = ParseAnalyticsQuery(q, table)
		_, _ = ParseExportQuery(q)
		_, _, _ = ParseAddressQuery(q)
		_, _ = ParseCursor(q)
		_, _ = ParseSearch(q)
	})
}

func FuzzPathID(f *testing.F) {
	for _, s := range []string{"user_alice", "dep_00000000018b888d001d81cfd6ef329a", "we_0123456789abcdef", "evt_0123456789abcdef01234567",
		"ps_0123456789abcdef0123456789abcdef", "mer_0123456789abcdef", "key_0123456789abcdef", "../x", "a%2Fb", "a\u202eb", "ａ", "a b"} {
		for k := IDReference; k <= IDChain; k++ {
			f.Add(uint8(k), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, v string) {
		k := IDKind(int(kind)%int(IDChain) + 1)
		if ValidatePathID(k, v) != nil {
			return
		}
		if !utf8.ValidString(v) || v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\\%?#") {
			t.Fatalf("kind %d accepts %q", k, v)
		}
		for _, r := range v {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("kind %d accepts %q, with %U", k, v, r)
			}
		}
		// Escaped as one segment, it is one segment that unescapes to v.
		seg := url.PathEscape(v)
		if strings.Contains(seg, "/") {
			t.Fatalf("%q escapes to %q", v, seg)
		}
		if back, err := url.PathUnescape(seg); err != nil || back != v {
			t.Fatalf("%q escapes to %q, which unescapes to %q, %v", v, seg, back, err)
		}
	})
}
