package accesslog_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cofferhq/coffer/accesslog"
)

// TestSignStandardWebhooks checks the signature against the example of
// the Standard Webhooks specification.
func TestSignStandardWebhooks(t *testing.T) {
	got, err := accesslog.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	if _, err := accesslog.Sign("whsec_!!!", "msg", time.Now(), nil); err == nil {
		t.Error("a secret that is not base64 signs")
	}
}

// TestNewSecret: whsec_ and 32 random bytes, never twice the same.
func TestNewSecret(t *testing.T) {
	a, b := accesslog.NewSecret(), accesslog.NewSecret()
	if a == b || len(a) != len("whsec_")+44 || a[:6] != "whsec_" {
		t.Errorf("secrets %q, %q", a, b)
	}
}

// TestCheckURL refuses other schemes, user information and private
// targets unless they are allowed.
func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/x", false, true},
		{"http://203.0.113.9:8080/x", false, true},
		{"ftp://example.com/x", false, false},
		{"javascript:alert(1)", false, false},
		{"https://user:pw@example.com/x", false, false},
		{"https:///x", false, false},
		{"http://127.0.0.1/x", false, false},
		{"http://127.0.0.1/x", true, true},
		{"http://localhost:8080/x", false, false},
		{"http://app.localhost/x", false, false},
		{"http://[::1]/x", false, false},
		{"http://[::ffff:10.1.2.3]/x", false, false},
		{"http://192.168.1.1/x", false, false},
		{"http://172.16.0.1/x", false, false},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"http://100.64.0.1/x", false, false},
		{"http://0.0.0.0/x", false, false},
		{"http://[fe80::1]/x", false, false},
		{"http://[fd00::1]/x", false, false},
	} {
		err := accesslog.CheckURL(c.url, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%q, allow private %v) = %v, want ok %v", c.url, c.allowPrivate, err, c.ok)
		}
	}
	if accesslog.Blocked(netip.MustParseAddr("8.8.8.8")) {
		t.Error("a public address is blocked")
	}
}

// TestSafeCell neutralizes spreadsheet formulas.
func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{"=1+1": "'=1+1", "+x": "'+x", "-2": "'-2", "@SUM": "'@SUM", "\tx": "'\tx", "plain": "plain", "": ""} {
		if got := accesslog.SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}
