package merchantapi

import (
	"net"
	"net/netip"
)

// PublicIP reports whether ip is a public unicast address that a webhook
// may be sent to: not loopback, private, link-local, CGNAT, multicast,
// unspecified, reserved, benchmarking or documentation space.
//
// An IPv4 address in IPv6 form (::ffff:a.b.c.d) is judged as the IPv4
// address it is. IPv6 forms that carry an IPv4 address inside them, which a
// host or a gateway on the way may turn into that IPv4 address, are judged
// by the address they carry too: IPv4-compatible (::a.b.c.d), IPv4-translated
// (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48),
// 6to4 (2002::/16) and Teredo (2001::/32, both its server and its client).
func PublicIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	return publicAddr(a.Unmap(), 0)
}

func publicAddr(a netip.Addr, depth int) bool {
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || a.IsInterfaceLocalMulticast() {
		return false
	}
	if a.Is4() {
		for _, p := range blocked4 {
			if p.Contains(a) {
				return false
			}
		}
		return true
	}
	for _, p := range blocked6 {
		if p.Contains(a) {
			return false
		}
	}
	if depth > 0 {
		return false // an embedded address inside an embedded address
	}
	for _, e := range embedded(a) {
		if !publicAddr(e, depth+1) {
			return false
		}
	}
	return true
}

// embedded returns the IPv4 addresses an IPv6 address carries.
func embedded(a netip.Addr) []netip.Addr {
	b := a.As16()
	v4 := func(x []byte) netip.Addr { return netip.AddrFrom4([4]byte(x)) }
	switch {
	case compat4.Contains(a), translated4.Contains(a), nat64.Contains(a):
		return []netip.Addr{v4(b[12:16])}
	case nat64Local.Contains(a):
		// RFC 8215 leaves the embedding to the operator; RFC 6052's /48
		// form puts the address in bytes 6..7 and 9..10.
		return []netip.Addr{v4([]byte{b[6], b[7], b[9], b[10]}), v4(b[12:16])}
	case sixToFour.Contains(a):
		return []netip.Addr{v4(b[2:6])}
	case teredo.Contains(a):
		client := [4]byte{b[12] ^ 0xff, b[13] ^ 0xff, b[14] ^ 0xff, b[15] ^ 0xff}
		return []netip.Addr{v4(b[4:8]), netip.AddrFrom4(client)}
	}
	return nil
}

var (
	compat4     = netip.MustParsePrefix("::/96")
	translated4 = netip.MustParsePrefix("::ffff:0:0:0/96")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	teredo      = netip.MustParsePrefix("2001::/32")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// The IANA special-purpose registries' ranges that are not globally
// reachable, beyond what netip's predicates cover.
var (
	blocked4 = prefixes(
		"0.0.0.0/8",          // this network
		"100.64.0.0/10",      // shared address space (CGNAT)
		"192.0.0.0/24",       // IETF protocol assignments
		"192.0.2.0/24",       // TEST-NET-1
		"192.88.99.0/24",     // 6to4 relay anycast (deprecated)
		"198.18.0.0/15",      // benchmarking
		"198.51.100.0/24",    // TEST-NET-2
		"203.0.113.0/24",     // TEST-NET-3
		"240.0.0.0/4",        // reserved
		"255.255.255.255/32", // limited broadcast
	)
	blocked6 = prefixes(
		"100::/64",      // discard-only
		"2001:2::/48",   // benchmarking
		"2001:10::/28",  // ORCHID
		"2001:20::/28",  // ORCHIDv2
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation
		"5f00::/16",     // segment routing SIDs
		"fec0::/10",     // site-local (deprecated)
	)
)
