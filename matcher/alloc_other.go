//go:build !linux

package matcher

func allocWords(n int) ([]uint64, func()) { return make([]uint64, n), func() {} }
