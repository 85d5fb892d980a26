package coffer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckName validates the name of an object people name (a notebook,
// table, column, view, organization, group, account or key) and returns
// it without surrounding spaces, or a message safe to show.
//
// A name is 1 to max code points of valid UTF-8 on one line. Following
// RFC 8264's rules for identifiers and free-form names, it holds no
// control character, no invisible formatting character (bidirectional
// overrides and isolates such as U+202E, which make "\u202Egnp.exe" show
// as "exe.png", zero-width spaces, the byte-order mark U+FEFF), and no
// replacement character U+FFFD, the mark of text that was not valid
// UTF-8 on its way in. The joiners U+200C and U+200D are allowed between
// two visible characters, where scripts and emoji sequences need them.
func CheckName(name string, max int) (string, string) {
	n := strings.TrimSpace(name)
	rule := fmt.Sprintf("must be 1 to %d characters on one line", max)
	if n == "" || !utf8.ValidString(n) || utf8.RuneCountInString(n) > max {
		return "", rule
	}
	r := []rune(n)
	for i, c := range r {
		switch {
		case c == utf8.RuneError:
			return "", "must be valid UTF-8 (it holds U+FFFD, the mark of an invalid byte sequence)"
		case unicode.IsControl(c) || c == '\u2028' || c == '\u2029':
			return "", rule + ", without control characters"
		case c == '\u200c' || c == '\u200d':
			if i == 0 || i == len(r)-1 || unicode.Is(unicode.Cf, r[i-1]) || unicode.Is(unicode.Cf, r[i+1]) || unicode.IsSpace(r[i-1]) || unicode.IsSpace(r[i+1]) {
				return "", fmt.Sprintf("must not hold invisible formatting characters (U+%04X)", c)
			}
		case unicode.Is(unicode.Cf, c) || unicode.Is(unicode.Co, c) || c == '\u115f' || c == '\u1160' || c == '\u3164' || c == '\uffa0':
			return "", fmt.Sprintf("must not hold invisible formatting characters (U+%04X)", c)
		}
	}
	return n, ""
}
