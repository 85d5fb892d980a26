package auth_test

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer/auth"
	"github.com/trustelem/zxcvbn/frequency"
)

func TestPasswordLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		pw   string
		r    auth.Rules
		ok   bool
	}{
		{"14 characters", "tq7 vmz bk4 wp", auth.Rules{}, false},
		{"15 characters", "tq7 vmz bk4 wpx", auth.Rules{}, true},
		{"15 characters of 2 bytes", "éàüöçñøåæœßðþłž", auth.Rules{}, true},
		{"14 characters of 2 bytes", "éàüöçñøåæœßðþł", auth.Rules{}, false},
		{"NFKC: a ligature counts as two", "\ufb01" + "tq7vmzbk4wpx9", auth.Rules{}, true}, // ﬁ → fi: 15 code points after NFKC, 14 before
		{"256 characters", strings.Repeat("tq7 vmz bk4 wpx ", 16), auth.Rules{}, true},
		{"64 distinct-ish characters", "the 64-character passphrase of an account, long enough to pass!!", auth.Rules{}, true},
		{"over the byte bound", strings.Repeat("tq7 vmz bk4 wpx ", auth.MaxPasswordBytes/16+1), auth.Rules{}, false},
		{"invalid UTF-8", "\xff" + "tq7 vmz bk4 wpx tq7", auth.Rules{}, false},
		{"8 characters with a second factor", "Kq7vXz2m", auth.Rules{MinLength: auth.MinPasswordLengthMFA}, true},
		{"7 characters with a second factor", "Kq7vXz2", auth.Rules{MinLength: auth.MinPasswordLengthMFA}, false},
		{"8 characters without", "Kq7vXz2m", auth.Rules{}, false},
	} {
		msgs := auth.CheckNewPassword(tc.pw, tc.r, nil)
		if got := len(msgs) == 0; got != tc.ok {
			t.Errorf("%s: ok = %v, want %v (%v)", tc.name, got, tc.ok, msgs)
		}
	}
}

func TestPasswordComposition(t *testing.T) {
	classic := auth.Rules{MinLength: 6, RequireLower: true, RequireUpper: true, RequireDigit: true}
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"Vq7mzKb4wp", true},
		{"vq7mzkb4wp", false}, // no upper
		{"VQ7MZKB4WP", false}, // no lower
		{"VqxmzKbywp", false}, // no digit
		{"Vq7mz", false},      // too short
		{"Password1", false},  // composition met but common
		{"Vq7mzKb4wp!", true}, // symbols are fine
		{"tq7 vmz bk4 wpx", false},
	} {
		msgs := auth.CheckNewPassword(tc.pw, classic, nil)
		if got := len(msgs) == 0; got != tc.ok {
			t.Errorf("%q under min 6 + lower, upper, digit: ok = %v, want %v (%v)", tc.pw, got, tc.ok, msgs)
		}
	}
	sym := auth.Rules{RequireSymbol: true}
	if len(auth.CheckNewPassword("tq7 vmz bk4 wpx", sym, nil)) == 0 {
		t.Error("a symbol rule accepted a password without a symbol")
	}
	if msgs := auth.CheckNewPassword("tq7 vmz bk4 wpx!", sym, nil); len(msgs) != 0 {
		t.Errorf("symbol rule: %v", msgs)
	}
}

// TestCommonPasswordsRefused: every password of zxcvbn's top-10k list is
// refused by the strength check, and so are 2000 of the most common padded
// to 15 characters the naive ways.
func TestCommonPasswordsRefused(t *testing.T) {
	list := frequency.FrequencyLists["passwords"]
	if len(list) < 10000 {
		t.Fatalf("zxcvbn ships %d common passwords, want at least 10000", len(list))
	}
	mfa := auth.Rules{MinLength: auth.MinPasswordLengthMFA}
	for _, p := range list[:10000] {
		if msg := auth.Weak(p, mfa, nil); msg == "" {
			t.Errorf("common password %q accepted", p)
		}
	}
	if testing.Short() {
		return
	}
	digits := "123456789012345"
	n := 0
	for _, p := range list[:2000] {
		if len(p) >= 15 {
			continue
		}
		rep := p
		for len(rep) < 15 {
			rep += p
		}
		for _, q := range []string{
			p + digits[:15-len(p)],
			strings.ToUpper(p[:1]) + p[1:] + digits[:15-len(p)],
			rep,
			p + strings.Repeat("!", 15-len(p)),
			strings.Repeat("1", 15-len(p)) + p,
		} {
			n++
			if msgs := auth.CheckNewPassword(q, auth.Rules{}, nil); len(msgs) == 0 {
				t.Errorf("padded common password %q accepted", q)
			}
		}
	}
	t.Logf("%d padded common passwords refused", n)
}

func TestPassphrasesAccepted(t *testing.T) {
	for _, pw := range []string{
		"correct horse battery staple",
		"purple monkey dishwasher",
		"tea with milk please",
		"a long walk-through passphrase",
	} {
		if msgs := auth.CheckNewPassword(pw, auth.Rules{}, auth.ContextWords("Ada Lovelace", "ada@example.com")); len(msgs) != 0 {
			t.Errorf("%q refused: %v", pw, msgs)
		}
	}
}

func TestContextWords(t *testing.T) {
	words := auth.ContextWords("Ada Lovelace", "ada.lovelace@analytical-engine.org")
	for _, pw := range []string{
		"AdaLovelace2024!!",
		"ada.lovelace@analytical-engine.org",
		"lovelacelovelacelovelace",
		"Lovelace123456789",
		"analytical-engine",
		"coffercoffercoffer",
		"Coffer!!!!!!!!!!!",
	} {
		msgs := auth.CheckNewPassword(pw, auth.Rules{}, words)
		if len(msgs) == 0 {
			t.Errorf("%q built from the user's words accepted", pw)
		}
		for _, m := range msgs {
			if strings.Contains(strings.ToLower(m), strings.ToLower(pw)) {
				t.Errorf("message %q echoes the password", m)
			}
		}
	}
	// The same passwords are fine for someone else (the rule is about context).
	if msgs := auth.CheckNewPassword("analytical-engine", auth.Rules{}, auth.ContextWords("Bob", "bob@example.com")); len(msgs) != 0 {
		t.Logf("note: %v", msgs)
	}
}

// TestPatternsRefused: patterns that only zxcvbn recognizes (keyboard
// walks, sequences, repeats) are refused even at 15 characters and more.
func TestPatternsRefused(t *testing.T) {
	for _, pw := range []string{
		"qazwsxedcrfvtgbyhn",
		"aaaaaaaaaaaaaaaaaaaa",
		"abcdefghijklmnopqrs",
		"1qaz2wsx3edc4rfv5tgb",
	} {
		if msgs := auth.CheckNewPassword(pw, auth.Rules{}, nil); len(msgs) == 0 {
			t.Errorf("%q accepted", pw)
		}
	}
}

// TestOnlyContextWordsRefused: a password made only of the account's
// context words (e-mail local part and domain labels, name, organization,
// "coffer"), in any order, joined by separators, digits or nothing, is
// refused; one unrelated word among them makes it acceptable again.
func TestOnlyContextWordsRefused(t *testing.T) {
	words := auth.ContextWords("Named Person", "named@example.com", "Acme Widgets")
	parts := []string{"named", "example", "coffer", "person", "acme", "widgets"}
	joins := []string{"-", ".", "_", " ", "", "2026", "!", "7-"}
	n := 0
	for _, a := range parts {
		for _, b := range parts {
			for _, c := range parts {
				for _, j := range joins {
					pw := a + j + b + j + c
					if len(pw) < 15 {
						pw += j + a
					}
					for _, p := range []string{pw, strings.ToUpper(pw[:1]) + pw[1:], strings.ToUpper(pw)} {
						n++
						msgs := auth.CheckNewPassword(p, auth.Rules{}, words)
						if len(msgs) == 0 {
							t.Fatalf("%q made of context words accepted", p)
						}
						for _, m := range msgs {
							if strings.Contains(strings.ToLower(m), strings.ToLower(p)) {
								t.Errorf("message %q echoes the password", m)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations refused", n)
	if msgs := auth.CheckNewPassword("named-example-coffer", auth.Rules{}, words); len(msgs) == 0 {
		t.Error("named-example-coffer accepted for named@example.com")
	}
	// The same words are fine for someone else, and a password that adds an
	// unrelated word is judged on its strength alone.
	if msgs := auth.CheckNewPassword("named-example-coffer", auth.Rules{}, auth.ContextWords("Bob", "bob@other.org")); len(msgs) != 0 {
		t.Logf("note (not context words for Bob): %v", msgs)
	}
	if msgs := auth.CheckNewPassword("named example tangerine lighthouse", auth.Rules{}, words); len(msgs) != 0 {
		t.Errorf("password with unrelated words refused: %v", msgs)
	}
}
