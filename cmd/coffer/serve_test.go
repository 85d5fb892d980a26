package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestServeFlags checks what "coffer serve" makes of its flags before it
// opens anything: the defaults, and a clear error for each bad value.
func TestServeFlags(t *testing.T) {
	for _, v := range []string{"COFFER_ADDR", "COFFER_LOG_FORMAT", "COFFER_PUBLIC_URL", "COFFER_TRUSTED_PROXIES",
		"COFFER_SMTP_URL", "COFFER_SMTP_FROM", "COFFER_QUERY_TIMEOUT", "COFFER_MAX_STREAMS"} {
		t.Setenv(v, "")
	}
	o, err := parseServeFlags([]string{"--addr", "127.0.0.1:9999", "--trusted-proxies", "10.0.0.1, 192.168.0.0/16"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.publicURL != "" || o.listTimeout != 10*time.Second || o.maxStreams != 8 || len(o.trusted) != 2 || o.smtpURL != "" || o.log == nil {
		t.Errorf("defaults: got %+v", o)
	}
	// Without --public-url, serve takes the listener's real address
	// (TestFirstRun checks it with --addr 127.0.0.1:0).
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--trusted-proxies", "nowhere"}, `--trusted-proxies: "nowhere" is not an address or a CIDR prefix`},
		{[]string{"--query-timeout", "0s"}, "--query-timeout must be a positive duration"},
		{[]string{"--query-timeout", "soon"}, "--query-timeout must be a positive duration"},
		{[]string{"--max-streams", "0"}, "--max-streams must be a whole number of at least 1"},
		{[]string{"--public-url", "ftp://coffer.example.com"}, "--public-url must be an http or https URL"},
		{[]string{"--public-url", "https://coffer.example.com/?a=b"}, "--public-url must be an http or https URL"},
		{[]string{"--log-format", "xml"}, "--log-format must be text or json"},
	} {
		_, err := parseServeFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}
