package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/mail"
)

// mailpitVersion is the version pinned by tools/mailpit/go.mod (the api
// tests build the same binary into the same cache).
const mailpitVersion = "v1.33.1"

var (
	mailpitOnce sync.Once
	mailpitBin  string
	mailpitErr  error
)

// moduleRoot finds the directory of the module's go.mod from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/cofferhq/coffer\n")) {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("go.mod of github.com/cofferhq/coffer not found above the working directory")
		}
		dir = up
	}
}

// mailpitBinary builds mailpit from the tool module tools/mailpit once and
// keeps it in the user cache directory.
func mailpitBinary() (string, error) {
	mailpitOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "coffer-test")
		bin := filepath.Join(dir, "mailpit-"+mailpitVersion)
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			mailpitBin = bin
			return
		}
		root, err := moduleRoot()
		if err != nil {
			mailpitErr = err
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			mailpitErr = err
			return
		}
		tmp, err := os.CreateTemp(dir, "mailpit-build-*")
		if err != nil {
			mailpitErr = err
			return
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp.Name(), "github.com/axllent/mailpit")
		cmd.Dir = filepath.Join(root, "tools", "mailpit")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			mailpitErr = fmt.Errorf("go build github.com/axllent/mailpit in tools/mailpit: %v\n%s", err, out.String())
			return
		}
		if err := os.Rename(tmp.Name(), bin); err != nil {
			mailpitErr = err
			return
		}
		mailpitBin = bin
	})
	return mailpitBin, mailpitErr
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mailpit is a real SMTP server with an HTTP API, started on loopback.
type Mailpit struct {
	TB   testing.TB
	SMTP mail.Config // to send through it (no TLS: loopback)
	API  string      // base URL of its HTTP API
}

// MustMailpit starts mailpit for the test and stops it at cleanup. Without
// a way to build it the test is skipped, unless COFFER_TEST_REQUIRE names
// smtp.
func MustMailpit(tb testing.TB) *Mailpit {
	tb.Helper()
	bin, err := mailpitBinary()
	if err != nil {
		if strings.Contains(os.Getenv("COFFER_TEST_REQUIRE"), "smtp") {
			tb.Fatalf("mailpit is required (COFFER_TEST_REQUIRE) but could not be built: %v", err)
		}
		tb.Skipf("skipping: mailpit (the SMTP test server) could not be built: %v", err)
	}
	httpPort, smtpPort := freePort(tb), freePort(tb)
	cmd := exec.Command(bin, "--listen", "127.0.0.1:"+strconv.Itoa(httpPort), "--smtp", "127.0.0.1:"+strconv.Itoa(smtpPort),
		"--disable-version-check", "--quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start mailpit: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	mp := &Mailpit{TB: tb, API: "http://127.0.0.1:" + strconv.Itoa(httpPort),
		SMTP: mail.Config{Host: "127.0.0.1", Port: smtpPort, From: "coffer@localhost", TLS: mail.TLSNone, Timeout: 5 * time.Second}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(mp.API + "/api/v1/messages")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(smtpPort)); err == nil {
					c.Close()
					return mp
				}
			}
		}
		select {
		case <-exited:
			tb.Fatalf("mailpit exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mailpit did not start in 20 s: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MailpitMessage is a message in mailpit's list.
type MailpitMessage struct {
	ID      string
	Subject string
	To      []struct{ Address string }
}

// WaitMessages waits until n messages to addr arrived and returns them.
func (m *Mailpit) WaitMessages(addr string, n int) []MailpitMessage {
	m.TB.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(m.API + "/api/v1/messages")
		if err != nil {
			m.TB.Fatalf("mailpit messages: %v", err)
		}
		var list struct{ Messages []MailpitMessage }
		err = json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		if err != nil {
			m.TB.Fatalf("mailpit messages: %v", err)
		}
		var got []MailpitMessage
		for _, s := range list.Messages {
			for _, to := range s.To {
				if strings.EqualFold(to.Address, addr) {
					got = append(got, s)
				}
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			m.TB.Fatalf("mailpit: %d messages to %s after 20 s, want %d", len(got), addr, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Text returns the plain-text body of a message.
func (m *Mailpit) Text(id string) string {
	m.TB.Helper()
	res, err := http.Get(m.API + "/api/v1/message/" + id)
	if err != nil {
		m.TB.Fatalf("mailpit message: %v", err)
	}
	defer res.Body.Close()
	var msg struct{ Text string }
	if err := json.NewDecoder(res.Body).Decode(&msg); err != nil {
		m.TB.Fatalf("mailpit message: %v", err)
	}
	return msg.Text
}
