package auth

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/text/unicode/norm"
)

// Password policy (NIST SP 800-63B rev 4 §3.1.1.2, OWASP ASVS 5.0 §6.2).
//
// A password is NFKC-normalized and measured in code points; it is never
// truncated (hashing uses the whole normalized text). By default there are
// no composition rules: length and a strength check do the work.
//
// Strength has two parts, both with dictionaries shipped in the binary:
//
//   - zxcvbn (github.com/trustelem/zxcvbn: common passwords, English words,
//     names, keyboard patterns, dates, sequences, l33t) estimates the
//     guesses needed, with the user's own words (name, e-mail, "coffer")
//     added to its dictionaries. The score it must reach depends on the
//     minimum length in force: 3 (≥ 10⁸ guesses) for the default
//     password-only minimum and anything from 10 characters up, 2 (≥ 10⁶)
//     when the minimum is below 10 (an account with a second factor, or an
//     organization that chose short passwords), since zxcvbn caps the
//     estimate of an n-character random string at 10ⁿ. zxcvbn's cost grows
//     steeply with length, so it rates the first zxcvbnMaxRunes code points:
//     a password whose beginning is strong is strong.
//   - an explicit check that the password is not one of zxcvbn's 30,000
//     most common passwords, nor one of the user's words, with small
//     changes: case, padding with digits, symbols or a digit sequence at
//     either end, repetition ("passpasspass"), separators between letters.
//     zxcvbn alone lets some of those through ("pass12345678901").
const (
	// MinPasswordLength is the default minimum for a password-only account.
	MinPasswordLength = 15
	// MinPasswordLengthMFA is the default minimum for an account with a
	// second factor.
	MinPasswordLengthMFA = 8
	// MinPolicyLength and MaxPolicyLength bound the minimum length an
	// organization may set.
	MinPolicyLength = 6
	MaxPolicyLength = 64
	// MaxPasswordBytes bounds a password (after normalization). At least
	// 64 characters of any script fit.
	MaxPasswordBytes = 4096
	zxcvbnMaxRunes   = 100
)

// Rules are the requirements a new password must meet, computed from the
// organization policies and the account (see store.checkNewPassword).
type Rules struct {
	// MinLength in code points; 0 means MinPasswordLength.
	MinLength int
	// Composition rules, only when an organization sets them.
	RequireLower, RequireUpper, RequireDigit, RequireSymbol bool
}

func (r Rules) minLength() int {
	if r.MinLength <= 0 {
		return MinPasswordLength
	}
	return r.MinLength
}

// minScore is the zxcvbn score a password must reach under r.
func (r Rules) minScore() int {
	if r.minLength() < 10 {
		return 2
	}
	return 3
}

// CheckPassword applies the default rules with no context words. It
// returns a message safe to show, or "" when the password is acceptable.
func CheckPassword(password string) string {
	if msgs := CheckNewPassword(password, Rules{}, nil); len(msgs) > 0 {
		return msgs[0]
	}
	return ""
}

// CheckNewPassword checks a new password against r and the strength
// checks, with the user's own words (see ContextWords). It returns
// messages safe to show (they never echo the password), or nil.
func CheckNewPassword(password string, r Rules, words []string) []string {
	if !utf8.ValidString(password) {
		return []string{"must be valid UTF-8"}
	}
	pw := norm.NFKC.String(password)
	if len(pw) > MaxPasswordBytes {
		return []string{fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)}
	}
	var msgs []string
	n := utf8.RuneCountInString(pw)
	if min := r.minLength(); n < min {
		msgs = append(msgs, fmt.Sprintf("must be at least %d characters", min))
	}
	var lower, upper, digit, symbol bool
	for _, c := range pw {
		switch {
		case unicode.IsLower(c):
			lower = true
		case unicode.IsUpper(c):
			upper = true
		case unicode.IsDigit(c):
			digit = true
		case !unicode.IsLetter(c) && !unicode.IsSpace(c):
			symbol = true
		}
	}
	if r.RequireLower && !lower {
		msgs = append(msgs, "must contain a lowercase letter (your organization's rule)")
	}
	if r.RequireUpper && !upper {
		msgs = append(msgs, "must contain an uppercase letter (your organization's rule)")
	}
	if r.RequireDigit && !digit {
		msgs = append(msgs, "must contain a digit (your organization's rule)")
	}
	if r.RequireSymbol && !symbol {
		msgs = append(msgs, "must contain a symbol (your organization's rule)")
	}
	if len(msgs) > 0 {
		return msgs
	}
	if msg := Weak(pw, r, words); msg != "" {
		msgs = append(msgs, msg)
	}
	return msgs
}

// Weak applies the strength checks alone (no length or composition rule)
// to a normalized password. It returns a message safe to show, or "".
func Weak(pw string, r Rules, words []string) string {
	if onlyContextWords(pw, words) {
		return "is too easy to guess: it is made only of your name, e-mail address, organization or \"coffer\"; a few unrelated words make a strong password"
	}
	if w := commonCore(pw, words); w != "" {
		return "is too easy to guess: it is " + w + " with small changes; a few unrelated words make a strong password"
	}
	eval := pw
	if utf8.RuneCountInString(eval) > zxcvbnMaxRunes {
		eval = string([]rune(eval)[:zxcvbnMaxRunes])
	}
	if zxcvbn.PasswordStrength(eval, lowered(words)).Score < r.minScore() {
		return "is too easy to guess (common words, names, dates, sequences or keyboard patterns): a few unrelated words make a strong password"
	}
	return ""
}

// ContextWords returns the words of an account that its password must
// not be built from: the parts of the name and of the e-mail address
// (local part and domain, without the top-level domain), the names of
// the account's organizations (orgs), and "coffer".
func ContextWords(name, email string, orgs ...string) []string {
	words := []string{"coffer"}
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if utf8.RuneCountInString(s) >= 3 {
			words = append(words, s)
		}
	}
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) })
	}
	add(name)
	add(strings.Join(split(name), ""))
	for _, p := range split(name) {
		add(p)
	}
	add(email)
	local, domain, _ := strings.Cut(email, "@")
	add(local)
	add(strings.Join(split(local), ""))
	for _, p := range split(local) {
		add(p)
	}
	labels := strings.Split(domain, ".")
	if len(labels) > 1 {
		labels = labels[:len(labels)-1]
	}
	for _, l := range labels {
		add(l)
		for _, p := range split(l) {
			add(p)
		}
	}
	for _, o := range orgs {
		add(o)
		add(strings.Join(split(o), ""))
		for _, p := range split(o) {
			add(p)
		}
	}
	return words
}

// onlyContextWords reports whether pw is made of context words alone,
// joined by separators, digits or nothing ("named-example-coffer",
// "Example2026Named", "namedexample"), as NIST SP 800-63B §3.1.1.2 asks
// verifiers to refuse. Each run of letters must split into words of the
// list; at least one letter must be present.
func onlyContextWords(pw string, words []string) bool {
	dict := map[string]bool{}
	longest := 0
	for _, w := range words {
		for _, part := range strings.FieldsFunc(strings.ToLower(w), func(c rune) bool { return !unicode.IsLetter(c) }) {
			if n := utf8.RuneCountInString(part); n >= 3 {
				dict[part] = true
				longest = max(longest, n)
			}
		}
	}
	runs := strings.FieldsFunc(strings.ToLower(pw), func(c rune) bool { return !unicode.IsLetter(c) })
	if len(runs) == 0 || len(dict) == 0 {
		return false
	}
	for _, run := range runs {
		if !splitsInto([]rune(run), dict, longest) {
			return false
		}
	}
	return true
}

// splitsInto reports whether r is a concatenation of words of dict (each
// at most longest runes), by dynamic programming over its prefixes.
func splitsInto(r []rune, dict map[string]bool, longest int) bool {
	ok := make([]bool, len(r)+1)
	ok[0] = true
	for j := 1; j <= len(r); j++ {
		for i := max(0, j-longest); i < j && !ok[j]; i++ {
			ok[j] = ok[i] && dict[string(r[i:j])]
		}
	}
	return ok[len(r)]
}

func lowered(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = strings.ToLower(w)
	}
	return out
}

var (
	commonOnce sync.Once
	common     map[string]bool
	// maxCommonRunes is the length of the longest common password.
	maxCommonRunes int
)

// commonPasswords is zxcvbn's list of the most common passwords.
func commonPasswords() map[string]bool {
	commonOnce.Do(func() {
		l := frequency.FrequencyLists["passwords"]
		common = make(map[string]bool, len(l))
		for _, p := range l {
			common[p] = true
			maxCommonRunes = max(maxCommonRunes, utf8.RuneCountInString(p))
		}
	})
	return common
}

// commonCore reports, when pw is a common password or one of words with
// small changes, a safe description of what it is ("a common password",
// "your name or e-mail address"); otherwise "".
func commonCore(pw string, words []string) string {
	ctx := map[string]bool{}
	for _, w := range words {
		ctx[strings.ToLower(w)] = true
	}
	commonPasswords()
	for _, c := range cores(strings.ToLower(pw)) {
		if utf8.RuneCountInString(c) < 3 {
			continue
		}
		if ctx[c] {
			if c == "coffer" {
				return `the word "coffer"`
			}
			return "your name or e-mail address"
		}
		if commonPasswords()[c] {
			return "a common password"
		}
	}
	return ""
}

// cores returns what is left of p once the usual small changes are undone.
func cores(p string) []string {
	out := []string{p}
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	notLetter := func(c rune) bool { return !unicode.IsLetter(c) }
	add(strings.TrimFunc(p, notLetter))
	add(strings.Map(func(c rune) rune {
		if unicode.IsLetter(c) {
			return c
		}
		return -1
	}, p))
	add(strings.TrimFunc(p, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }))
	for _, c := range unpadded(p) {
		add(c)
	}
	for _, c := range append([]string(nil), out...) {
		add(repeatUnit(c))
	}
	return out
}

// unpadded returns what is left of p once runs of digits, symbols and
// spaces of any length are cut from either end ("11111111234qwer" gives
// "1234qwer" among others), up to maxPad characters at each end and
// keeping at least 4 characters.
func unpadded(p string) []string {
	const maxPad = 24
	r := []rune(p)
	pad := func(c rune) bool { return !unicode.IsLetter(c) }
	var out []string
	for i := 0; i <= maxPad && i < len(r); i++ {
		if i > 0 && !pad(r[i-1]) {
			break
		}
		for j := len(r); j >= len(r)-maxPad && j-i >= 4; j-- {
			if j < len(r) && !pad(r[j]) {
				break
			}
			if j-i <= maxCommonRunes {
				out = append(out, string(r[i:j]))
			}
		}
	}
	return out
}

// repeatUnit returns the shortest u such that s is u repeated (the last
// copy possibly cut short), or s.
func repeatUnit(s string) string {
	r := []rune(s)
	for k := 1; k <= len(r)/2; k++ {
		ok := true
		for i := k; i < len(r); i++ {
			if r[i] != r[i-k] {
				ok = false
				break
			}
		}
		if ok {
			return string(r[:k])
		}
	}
	return s
}
