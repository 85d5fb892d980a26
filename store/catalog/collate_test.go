package catalog

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

var (
	testCollator = collate.New(language.Und)
	testBuf      collate.Buffer
)

// fullKey is the collation key as x/text makes it.
func fullKey(s string) []byte {
	k := append([]byte(nil), testCollator.KeyFromString(&testBuf, s)...)
	testBuf.Reset()
	return k
}

// levels splits a full key into its secondary and tertiary weights.
func levels(t *testing.T, key []byte) (sec []int, ter []byte) {
	t.Helper()
	i := 0
	for {
		if i+1 >= len(key) {
			t.Fatalf("key % x: no end of the primary level", key)
		}
		if key[i]&0x80 != 0 {
			i += 3
			continue
		}
		if key[i] == 0 && key[i+1] == 0 {
			break
		}
		i += 2
	}
	for i += 2; ; i += 2 {
		if i+1 >= len(key) {
			t.Fatalf("key % x: no end of the secondary level", key)
		}
		w := int(key[i])<<8 | int(key[i+1])
		if w == 0 {
			break
		}
		sec = append(sec, w)
	}
	return sec, key[i+2:]
}

// TestTrimKeyOrder checks the premise of trimKey over every character
// (the common secondary and tertiary weights are the smallest of their
// level) and, over random texts, that trimmed keys compare as full keys
// do, except that some that differed may become equal.
func TestTrimKeyOrder(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		sec, ter := levels(t, fullKey(string(r)))
		for _, w := range sec {
			if w < commonSecondary {
				t.Fatalf("U+%04X has the secondary weight %#x, below the common one", r, w)
			}
		}
		for _, w := range ter {
			if w < commonTertiary {
				t.Fatalf("U+%04X has the tertiary weight %#x, below the common one", r, w)
			}
		}
	}
	alphabet := []string{"a", "A", "e", "é", "É", "e\u0301", "s", "ß", "ss", "z", "Z", "ö", "1", "9", " ", "-", "\u00ad", "\u200b", "東", "Ω", "ω", "ǅ", "\u0308", "ﬁ", "i", "I"}
	rng := rand.New(rand.NewPCG(1, 2))
	texts := make([]string, 3000)
	for i := range texts {
		var b strings.Builder
		for n := rng.IntN(6); n >= 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		texts[i] = b.String()
	}
	ties := 0
	for i := 1; i < len(texts); i++ {
		a, b := texts[i-1], texts[i]
		if i%2 == 0 {
			b = texts[rng.IntN(len(texts))]
		}
		full := bytes.Compare(fullKey(a), fullKey(b))
		trim := bytes.Compare(SortKey(a), SortKey(b))
		switch {
		case trim == 0 && full != 0:
			ties++
		case trim != full:
			t.Errorf("%q vs %q: full keys compare %d, trimmed %d", a, b, full, trim)
		}
	}
	t.Logf("%d pairs told apart only by trailing common weights", ties)
	if n := len(SortKey("person123@example.com")); n >= len(fullKey("person123@example.com")) {
		t.Errorf("the key of plain text is not shorter: %d bytes", n)
	}
}
