package blob_test

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer/blob"
)

func TestValidKey(t *testing.T) {
	for _, k := range []string{"a", "n/nb_1/f_2", "0-9_a.b/c-d.e_f", "a.", "a/b.", strings.Repeat("x", blob.MaxKeyLen)} {
		if err := blob.ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", "..", "a..b", "a/../b", "/a", "a/", "a//b", ".a", "a/.b", "A", "a b", "a\\b", "a\x00", "ä",
		strings.Repeat("x", blob.MaxKeyLen+1)} {
		if err := blob.ValidKey(k); err == nil {
			t.Errorf("ValidKey(%q) accepted", k)
		}
	}
	for _, p := range []string{"", "a", "a/", "n/1/f"} {
		if err := blob.ValidPrefix(p); err != nil {
			t.Errorf("ValidPrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "..", "a/../", "A", strings.Repeat("x", blob.MaxKeyLen+1)} {
		if err := blob.ValidPrefix(p); err == nil {
			t.Errorf("ValidPrefix(%q) accepted", p)
		}
	}
}
