package storetest

import (
	"context"
	"encoding/base64"
	"image/png"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// stepClock is a clock that tests move forward, in TOTP steps. It follows
// real time until frozen.
type stepClock struct {
	off    atomic.Int64
	frozen atomic.Int64 // Unix nanoseconds of the frozen base; 0: real time
}

func (c *stepClock) Now() time.Time {
	base := time.Now()
	if f := c.frozen.Load(); f != 0 {
		base = time.Unix(0, f)
	}
	return base.Add(time.Duration(c.off.Load())).UTC()
}

// Freeze stops the clock where it is (Steps and Add still move it), so
// that short delays cannot expire on a slow machine.
func (c *stepClock) Freeze() { c.frozen.Store(time.Now().UnixNano()) }

func (c *stepClock) Steps(n int) { c.off.Add(int64(time.Duration(n) * 30 * time.Second)) }

func (c *stepClock) Add(d time.Duration) { c.off.Add(int64(d)) }

// TOTPCode returns the code of secret for the 30-second step d steps away
// from now.
func TOTPCode(tb testing.TB, secret string, now time.Time, d int) string {
	tb.Helper()
	code, err := totp.GenerateCodeCustom(secret, now.Add(time.Duration(d)*30*time.Second),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// MustSession logs a user in with the test password (no second factor)
// and returns a context carrying the session's caller.
func MustSession(tb testing.TB, s *all.Store, email string) context.Context {
	tb.Helper()
	ctx := context.Background()
	res, err := s.Login(ctx, email, TestPassword)
	if err != nil || res.Session == nil {
		tb.Fatalf("Login(%s): %v (challenge %v)", email, err, res != nil && res.Challenge != nil)
	}
	c, err := s.Authenticate(ctx, res.Key)
	if err != nil {
		tb.Fatalf("Authenticate: %v", err)
	}
	return coffer.WithCaller(ctx, c)
}

// mfaEnrol enrols u in TOTP (refused without the current password;
// confirmed with the current step's code, which it returns) and returns
// the enrolment and its recovery codes.
func mfaEnrol(t *testing.T, s *all.Store, ctx, bg context.Context, u *coffer.User, clock *stepClock) (*coffer.TOTPEnrolment, string, []string) {
	// Enrolment needs the current password.
	_, err := s.BeginTOTP(ctx, "not the password at all")
	wantCode(t, err, coffer.EUNAUTHORIZED)
	e, err := s.BeginTOTP(ctx, TestPassword)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	uri, err := url.Parse(e.URI)
	if err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" || uri.Query().Get("issuer") != "Coffer" ||
		uri.Query().Get("secret") != e.Secret || !strings.HasSuffix(uri.Path, ":"+u.Email) {
		t.Errorf("URI = %q: want otpauth://totp/Coffer:<e-mail> with the secret and issuer Coffer", e.URI)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(e.QRCode, "data:image/png;base64,"))
	if err != nil || !strings.HasPrefix(e.QRCode, "data:image/png;base64,") {
		t.Fatalf("QRCode is not a PNG data URL: %.40q", e.QRCode)
	}
	if _, err := png.Decode(strings.NewReader(string(raw))); err != nil {
		t.Errorf("QRCode: %v", err)
	}
	// A pending secret is not a factor yet.
	if res, err := s.Login(bg, u.Email, TestPassword); err != nil || res.Session == nil {
		t.Fatalf("Login with a pending TOTP enrolment: %v, want a session", err)
	}

	_, err = s.ConfirmTOTP(ctx, "000000x")
	wantCode(t, err, coffer.EINVALID)
	first := TOTPCode(t, e.Secret, clock.Now(), 0)
	codes, err := s.ConfirmTOTP(ctx, first)
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if len(codes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 10 {
		t.Fatalf("recovery codes = %q, want 10 distinct", codes)
	}
	_, err = s.BeginTOTP(ctx, TestPassword)
	wantCode(t, err, coffer.ECONFLICT)
	return e, first, codes
}

// testMFA covers TOTP and recovery codes: enrolment with re-authentication,
// each code usable once, ±1 step of drift, the challenge's attempt limit,
// throttling of wrong codes and removal.
func testMFA(t *testing.T, open Opener) {
	s := open(t)
	clock := &stepClock{}
	s.Now = clock.Now
	bg := context.Background()
	_, u := MustUser(t, s)
	ctx := MustSession(t, s, u.Email)

	e, first, codes := mfaEnrol(t, s, ctx, bg, u, clock)

	login := func() string {
		t.Helper()
		res, err := s.Login(bg, u.Email, TestPassword)
		if err != nil || res.Challenge == nil {
			t.Fatalf("Login with TOTP: %v, want a challenge", err)
		}
		if !slices.Contains(res.Challenge.Methods, coffer.FactorTOTP) || !slices.Contains(res.Challenge.Methods, coffer.FactorRecovery) {
			t.Errorf("challenge methods = %v", res.Challenge.Methods)
		}
		return res.Challenge.Token
	}
	answer := func(ch, method, code, want string) {
		t.Helper()
		sess, err := s.SecondFactor(bg, ch, method, code)
		if wantCode(t, err, want) && want == "" {
			c, err := s.Authenticate(bg, sess.Key)
			if err != nil || !c.MFA {
				t.Errorf("session after the second factor: %v, MFA %v", err, c != nil && c.MFA)
			}
		}
	}

	t.Run("EachCodeOnce", func(t *testing.T) {
		testMFAEachCodeOnce(t, answer, login, e, clock, first)
	})

	t.Run("Drift", func(t *testing.T) {
		testMFADrift(t, clock, answer, login, e)
	})

	t.Run("RecoveryCodesOnce", func(t *testing.T) {
		testMFARecoveryCodesOnce(t, answer, login, codes)
	})

	t.Run("FiveWrongCodesEndTheChallenge", func(t *testing.T) {
		testMFAFiveWrongCodesEndTheChallenge(t, answer, login, e, clock)
	})

	t.Run("WrongAnswersLimitedPerAccount", func(t *testing.T) {
		testMFAWrongAnswersLimitedPerAccount(t, clock, s, e, answer, login, bg, u)
	})

	t.Run("RegenerateRecoveryCodes", func(t *testing.T) {
		_, err := s.RegenerateRecoveryCodes(ctx, "wrong password, surely")
		wantCode(t, err, coffer.EUNAUTHORIZED)
		fresh, err := s.RegenerateRecoveryCodes(ctx, TestPassword)
		if err != nil || len(fresh) != 10 {
			t.Fatalf("RegenerateRecoveryCodes: %v, %d codes", err, len(fresh))
		}
		answer(login(), coffer.FactorRecovery, codes[3], coffer.EUNAUTHORIZED)
		answer(login(), coffer.FactorRecovery, fresh[0], "")
		codes = fresh[1:]
	})

	t.Run("Disable", func(t *testing.T) {
		testMFADisable(t, e, clock, s, ctx, codes, bg, u)
	})

	t.Run("WrongCodesThrottled", func(t *testing.T) {
		testMFAWrongCodesThrottled(t, s, clock)
	})

	t.Run("NotWithAPIKeys", func(t *testing.T) {
		testMFANotWithAPIKeys(t, bg, u, s)
	})
}

// testMFAEachCodeOnce is the subtest EachCodeOnce of testMFA: a code
// answers one challenge.
func testMFAEachCodeOnce(t *testing.T, answer func(ch, method, code, want string), login func() string, e *coffer.TOTPEnrolment, clock *stepClock, first string) {
	// The confirmation used this step's code.
	answer(login(), coffer.FactorTOTP, first, coffer.EUNAUTHORIZED)
	clock.Steps(1)
	code := TOTPCode(t, e.Secret, clock.Now(), 0)
	answer(login(), coffer.FactorTOTP, code, "")
	answer(login(), coffer.FactorTOTP, code, coffer.EUNAUTHORIZED)
}

// testMFARecoveryCodesOnce is the subtest RecoveryCodesOnce of testMFA.
func testMFARecoveryCodesOnce(t *testing.T, answer func(ch, method, code, want string), login func() string, codes []string) {
	answer(login(), coffer.FactorRecovery, codes[0], "")
	answer(login(), coffer.FactorRecovery, codes[0], coffer.EUNAUTHORIZED)
	// Case, spaces and dashes do not matter.
	answer(login(), coffer.FactorRecovery, " "+strings.ToUpper(strings.ReplaceAll(codes[1], "-", ""))+" ", "")
	answer(login(), coffer.FactorRecovery, "aaaa-bbbb-cccc-dddd-eeee-ffff", coffer.EUNAUTHORIZED)
	answer(login(), coffer.FactorTOTP, codes[2], coffer.EUNAUTHORIZED)
}

// testMFADrift is the subtest Drift of testMFA.
func testMFADrift(t *testing.T, clock *stepClock, answer func(ch string, method string, code string, want string), login func() string, e *coffer.TOTPEnrolment) {
	clock.Steps(3)
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), -2), coffer.EUNAUTHORIZED)
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), -1), "")
	clock.Steps(3)
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 2), coffer.EUNAUTHORIZED)
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 1), "")
	// A later step was used: this step's code is now spent too.
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 0), coffer.EUNAUTHORIZED)
	clock.Steps(2)
}

// testMFAFiveWrongCodesEndTheChallenge is the subtest FiveWrongCodesEndTheChallenge of testMFA.
func testMFAFiveWrongCodesEndTheChallenge(t *testing.T, answer func(ch string, method string, code string, want string), login func() string, e *coffer.TOTPEnrolment, clock *stepClock) {
	// A success clears the account's count of wrong answers.
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 0), "")
	clock.Steps(1)
	ch := login()
	good := TOTPCode(t, e.Secret, clock.Now(), 0)
	wrong := "000000"
	if good == wrong {
		wrong = "111111"
	}
	for range 5 {
		answer(ch, coffer.FactorTOTP, wrong, coffer.EUNAUTHORIZED)
	}
	answer(ch, coffer.FactorTOTP, good, coffer.EUNAUTHORIZED)
	answer(login(), coffer.FactorTOTP, good, "")
	clock.Steps(1)
}

// testMFAWrongAnswersLimitedPerAccount is the subtest WrongAnswersLimitedPerAccount of testMFA.
func testMFAWrongAnswersLimitedPerAccount(t *testing.T, clock *stepClock, s *all.Store, e *coffer.TOTPEnrolment, answer func(ch string, method string, code string, want string), login func() string, bg context.Context, u *coffer.User) {
	clock.Freeze()
	var mu sync.Mutex
	var notices []coffer.Notice
	s.Notify = func(n coffer.Notice) { mu.Lock(); notices = append(notices, n); mu.Unlock() }
	defer func() { s.Notify = nil }()
	wrong := "000000"
	if TOTPCode(t, e.Secret, clock.Now(), 0) == wrong || TOTPCode(t, e.Secret, clock.Now(), -1) == wrong || TOTPCode(t, e.Secret, clock.Now(), 1) == wrong {
		wrong = "111111"
	}
	// Each correct password makes a new challenge, but no new tries:
	// five wrong answers of the account are free, the sixth blocks its
	// second factor for 1 s, the next for 2 s; even the right code
	// waits.
	for range 6 {
		answer(login(), coffer.FactorTOTP, wrong, coffer.EUNAUTHORIZED)
	}
	_, err := s.SecondFactor(bg, login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 0))
	if wantCode(t, err, coffer.ETOOMANY) && coffer.RetryAfter(err) != 1 {
		t.Errorf("Retry-After = %d, want 1", coffer.RetryAfter(err))
	}
	clock.Add(time.Second)
	answer(login(), coffer.FactorRecovery, "aaaa-bbbb-cccc-dddd-eeee-ffff", coffer.EUNAUTHORIZED)
	_, err = s.SecondFactor(bg, login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 0))
	if wantCode(t, err, coffer.ETOOMANY) && coffer.RetryAfter(err) != 2 {
		t.Errorf("Retry-After = %d, want 2", coffer.RetryAfter(err))
	}
	// The sixth and seventh failures raised alerts, each an event and
	// a notice to the person.
	events, err := s.Events(bg, u.ID, 200)
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, ev := range events {
		if ev.Kind == coffer.EventSecondFactorAlert {
			alerts++
		}
	}
	mu.Lock()
	if alerts != 2 || len(notices) != 2 || notices[0].Kind != coffer.NoticeSecondFactorFailed || notices[0].Email != u.Email || notices[1].Failures != 7 {
		t.Errorf("%d alert events and notices %+v, want 2 of each (after 6 and 7 failures)", alerts, notices)
	}
	mu.Unlock()
	// Once the delay has passed the right code works and clears the count.
	clock.Add(2 * time.Second)
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 0), "")
	clock.Steps(1)
	for range 5 {
		answer(login(), coffer.FactorTOTP, wrong, coffer.EUNAUTHORIZED)
	}
	answer(login(), coffer.FactorTOTP, TOTPCode(t, e.Secret, clock.Now(), 0), "")
	clock.Steps(1)
}

// testMFADisable is the subtest Disable of testMFA.
func testMFADisable(t *testing.T, e *coffer.TOTPEnrolment, clock *stepClock, s *all.Store, ctx context.Context, codes []string, bg context.Context, u *coffer.User) {
	code := TOTPCode(t, e.Secret, clock.Now(), 0)
	wantCode(t, s.DisableTOTP(ctx, "wrong password, surely", code), coffer.EUNAUTHORIZED)
	err := s.DisableTOTP(ctx, TestPassword, "123x56")
	if wantCode(t, err, coffer.EINVALID) {
		wantFields(t, err, "code")
	}
	if err := s.DisableTOTP(ctx, TestPassword, codes[0]); err != nil {
		t.Fatalf("DisableTOTP with a recovery code: %v", err)
	}
	if res, err := s.Login(bg, u.Email, TestPassword); err != nil || res.Session == nil {
		t.Fatalf("Login after disabling TOTP: %v, want a session", err)
	}
	st, err := s.MFAStatus(ctx)
	if err != nil || st.TOTP || st.RecoveryCodes != 0 {
		t.Errorf("MFAStatus after disabling = %+v, %v; want no factor and no recovery codes", st, err)
	}
	wantCode(t, s.DisableTOTP(ctx, TestPassword, code), coffer.ENOTFOUND)
	var kinds []string
	evs, err := s.Events(bg, u.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	for _, k := range []string{coffer.EventMFAEnabled, coffer.EventMFADisabled, coffer.EventRecoveryCodes, coffer.EventSecondFactorOK, coffer.EventSecondFactorBad} {
		if !slices.Contains(kinds, k) {
			t.Errorf("events %v lack %s", kinds, k)
		}
	}
}

// testMFAWrongCodesThrottled is the subtest WrongCodesThrottled of testMFA.
func testMFAWrongCodesThrottled(t *testing.T, s *all.Store, clock *stepClock) {
	_, v := MustUser(t, s)
	vctx := MustSession(t, s, v.Email)
	e, err := s.BeginTOTP(vctx, TestPassword)
	if err != nil {
		t.Fatal(err)
	}
	good := TOTPCode(t, e.Secret, clock.Now(), 0)
	wrong := "000000"
	if good == wrong {
		wrong = "111111"
	}
	for i := range 6 {
		_, err := s.ConfirmTOTP(vctx, wrong)
		wantCode(t, err, coffer.EINVALID)
		_ = i
	}
	_, err = s.ConfirmTOTP(vctx, good)
	wantCode(t, err, coffer.ETOOMANY)
	_, err = s.BeginTOTP(vctx, TestPassword)
	wantCode(t, err, coffer.ETOOMANY)
}

// testMFANotWithAPIKeys is the subtest NotWithAPIKeys of testMFA.
func testMFANotWithAPIKeys(t *testing.T, bg context.Context, u *coffer.User, s *all.Store) {
	kctx := coffer.WithCaller(bg, &coffer.Caller{UserID: u.ID, Email: u.Email, APIKeyID: "key_x"})
	_, err := s.BeginTOTP(kctx, TestPassword)
	wantCode(t, err, coffer.ESESSION)
	_, err = s.MFAStatus(kctx)
	wantCode(t, err, coffer.ESESSION)
	_, err = s.ListSessions(kctx, u.ID)
	wantCode(t, err, coffer.ESESSION)
	_, err = s.ListAPIKeys(kctx, u.ID)
	wantCode(t, err, coffer.ESESSION)
	_, err = s.FindOrganizations(kctx)
	wantCode(t, err, coffer.ESESSION)
}
