package main

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// testSeed is the seed of a test's random rounds: INFLOW_TEST_SEED when
// set (to replay a failure CI printed), else the clock. The test logs it
// either way, so every failure names the run that reproduces it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("INFLOW_TEST_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("INFLOW_TEST_SEED=%q: not an unsigned 64-bit integer", s)
		}
		t.Logf("seed %d (from INFLOW_TEST_SEED)", seed)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (replay with INFLOW_TEST_SEED=%d)", seed, seed)
	return seed
}
