package value

import (
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// textProblem says why a string is not valid text.
type textProblem int

const (
	textOK        textProblem = iota
	textLong                  // longer than the limit
	textUTF8                  // not valid UTF-8
	textLineBreak             // a line break in single-line text
	textControl               // another control character (NUL included)
)

// checkText checks that s is valid UTF-8 of at most max bytes, without
// control characters other than tab, and other than line breaks when
// multiline.
func checkText(s string, max int, multiline bool) textProblem {
	if len(s) > max {
		return textLong
	}
	if !utf8.ValidString(s) {
		return textUTF8
	}
	for _, r := range s {
		switch {
		case r == '\t':
		case r == '\n' || r == '\r':
			if !multiline {
				return textLineBreak
			}
		case unicode.IsControl(r):
			return textControl
		}
	}
	return textOK
}

// textMessage is the FromJSON message for a text problem.
func textMessage(p textProblem, max int) string {
	switch p {
	case textLong:
		return "must be at most " + strconv.Itoa(max) + " bytes long"
	case textUTF8:
		return "must be valid UTF-8 text"
	case textLineBreak:
		return "must not contain line breaks (a long_text column may)"
	}
	return "must not contain control characters"
}

// ValidEmail reports whether s is an e-mail address as email columns accept
// it; accounts use the same rule.
func ValidEmail(s string) bool { return checkEmail(s) }

// checkEmail reports whether s is a bare email address: what
// net/mail.ParseAddress accepts, with no display name or angle brackets,
// and a dot in the domain.
func checkEmail(s string) bool {
	if checkText(s, MaxEmail, false) != textOK {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	dot := strings.IndexByte(domain, '.')
	return at > 0 && dot > 0 && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}

// checkURL reports whether s is an absolute http or https URL with a host.
func checkURL(s string) bool {
	if len(s) > MaxURL || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return (scheme == "http" || scheme == "https") && u.Opaque == "" && u.Hostname() != ""
}

// phoneMessage checks a phone number and returns what is wrong, or "".
func phoneMessage(s string) string {
	if len(s) > MaxPhone {
		return "must be at most " + strconv.Itoa(MaxPhone) + " characters long"
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits++
		case c == '+':
			if i != 0 {
				return "must have a + only as its first character"
			}
		case c == ' ' || c == '-' || c == '(' || c == ')' || c == '.':
		default:
			return "must be a phone number made of digits, spaces and + - ( ) ."
		}
	}
	if digits < 3 || digits > 20 {
		return "must be a phone number of 3 to 20 digits"
	}
	return ""
}

// quote quotes a value for an error message, shortened to a readable length.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}
