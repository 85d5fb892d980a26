package mail_test

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer/mail"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, from string
		want      mail.Config
	}{
		{"smtp://bob:s3cret@mail.example.com?from=coffer@example.com", "", mail.Config{Host: "mail.example.com", Port: 587, Username: "bob", Password: "s3cret", From: "coffer@example.com", TLS: mail.TLSStartTLS}},
		{"smtps://mail.example.com?from=coffer@example.com", "", mail.Config{Host: "mail.example.com", Port: 465, From: "coffer@example.com", TLS: mail.TLSImplicit}},
		{"smtp://mail.example.com:2525", "noreply@example.com", mail.Config{Host: "mail.example.com", Port: 2525, From: "noreply@example.com", TLS: mail.TLSStartTLS}},
		{"smtp://127.0.0.1:1025?from=a@b.c&tls=none", "", mail.Config{Host: "127.0.0.1", Port: 1025, From: "a@b.c", TLS: mail.TLSNone}},
		{"smtp://[::1]:1025?from=a@b.c&tls=none", "", mail.Config{Host: "::1", Port: 1025, From: "a@b.c", TLS: mail.TLSNone}},
	} {
		got, err := mail.ParseURL(tc.url, tc.from)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		got.Timeout = 0
		if got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
	}
	for _, bad := range []string{
		"http://mail.example.com?from=a@b.c",
		"smtp://?from=a@b.c",
		"smtp://mail.example.com",                         // no sender
		"smtp://mail.example.com?from=not-an-address",     // bad sender
		"smtp://mail.example.com?from=a@b.c&tls=none",     // clear text off loopback
		"smtp://10.0.0.1:25?from=a@b.c&tls=none",          // idem
		"smtps://127.0.0.1?from=a@b.c&tls=none",           // contradiction
		"smtp://mail.example.com?from=a@b.c&tls=maybe",    // unknown mode
		"smtp://mail.example.com?from=a@b.c&fromm=x",      // unknown parameter
		"smtp://mail.example.com:99999?from=a@b.c",        // port
		"smtp://u:hunter2-secret@mail.example.com:x?from", // password must not leak
	} {
		_, err := mail.ParseURL(bad, "")
		if err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL error quotes the password: %v", err)
		}
	}
	c, _ := mail.ParseURL("smtp://bob:hunter2-secret@mail.example.com?from=a@b.c", "")
	if s := c.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "bob") {
		t.Errorf("Config.String() = %q: want the user and no password", s)
	}
}
