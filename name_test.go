package coffer_test

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"Clients", " Émilie du Châtelet ", "日本語の表", "Family 👨\u200d👩\u200d👧", "می\u200cخواهم", "a"} {
		if n, msg := coffer.CheckName(ok, 200); msg != "" || n != strings.TrimSpace(ok) {
			t.Errorf("CheckName(%q) = %q, %q; want accepted", ok, n, msg)
		}
	}
	for _, bad := range []string{
		"", "   ", "\xff\xfe", "a\xffb", "caf\ufffd", "\u202egnp.exe", "a\u202ab", "x\u2066y\u2069",
		"zero\u200bwidth", "\ufeffBOM", "two\nlines", "nul\x00", "tab\there", "\u200d", "end\u200d", "a\u200d\u200db",
		"a\u2028b", "\u3164", strings.Repeat("x", 201),
	} {
		if n, msg := coffer.CheckName(bad, 200); msg == "" {
			t.Errorf("CheckName(%q) accepted as %q", bad, n)
		}
	}
}
