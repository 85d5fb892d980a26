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
		"COFFER_SMTP_URL", "COFFER_SMTP_FROM", "COFFER_QUERY_TIMEOUT", "COFFER_MAX_STREAMS", "COFFER_BLOB_URL", "COFFER_MAX_FILE_SIZE",
		"COFFER_MAX_NOTEBOOK_FILES", "COFFER_MAX_OWNER_FILES", "COFFER_DELETED_FILES_GRACE"} {
		t.Setenv(v, "")
	}
	o, err := parseServeFlags([]string{"--addr", "127.0.0.1:9999", "--trusted-proxies", "10.0.0.1, 192.168.0.0/16"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.publicURL != "" || o.listTimeout != 10*time.Second || o.maxStreams != 8 || len(o.trusted) != 2 || o.smtpURL != "" || o.log == nil {
		t.Errorf("defaults: got %+v", o)
	}
	if fo := o.files; fo.blobURL != "" || fo.maxFile != 100<<20 || fo.maxNotebook != 10<<30 || fo.maxOwner != 50<<30 || fo.deletedGrace != 7*24*time.Hour || fo.uploadGrace != time.Hour {
		t.Errorf("file defaults: got %+v", fo)
	}
	if o, err := parseServeFlags([]string{"--max-file-size", "2GB", "--max-notebook-files", "512kb", "--max-owner-files", "1TB", "--deleted-files-grace", "1h"}, io.Discard); err != nil ||
		o.files.maxFile != 2<<30 || o.files.maxNotebook != 512<<10 || o.files.maxOwner != 1<<40 || o.files.deletedGrace != time.Hour {
		t.Errorf("file flags: %+v, %v", o, err)
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
		{[]string{"--max-file-size", "0"}, "--max-file-size must be a positive size"},
		{[]string{"--max-file-size", "lots"}, "--max-file-size must be a positive size"},
		{[]string{"--max-notebook-files", "-1GB"}, "--max-notebook-files must be a positive size"},
		{[]string{"--max-owner-files", "99999999999TB"}, "--max-owner-files must be a positive size"},
		{[]string{"--deleted-files-grace", "0s"}, "--deleted-files-grace must be a positive duration"},
	} {
		_, err := parseServeFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}
