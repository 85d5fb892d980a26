package api_test

import (
	"testing"

	"github.com/cofferhq/coffer/store/storetest"
)

// Mailpit is the real SMTP server (with its HTTP API) that the e-mail
// tests start on loopback: the behaviour suite's own harness.
type Mailpit = storetest.Mailpit

// MustMailpit starts mailpit for the test and stops it at cleanup (see
// storetest.MustMailpit: skipped without a way to build it, unless
// COFFER_TEST_REQUIRE names smtp).
func MustMailpit(tb testing.TB) *Mailpit { return storetest.MustMailpit(tb) }
