package accesslog

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SecretPrefix starts every webhook secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// NewSecret returns a new webhook secret: whsec_ and 32 random bytes in
// base64.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("accesslog: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// Sign returns the webhook-signature header value of a message: "v1,"
// and the base64 HMAC-SHA256, under the secret's key, of
// "id.timestamp.body" (timestamp in Unix seconds).
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return "", errors.New("accesslog: the webhook secret is not valid")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Errors of CheckURL.
var (
	ErrURLScheme  = errors.New("must be an http or https URL with a host")
	ErrURLPrivate = errors.New("must not point at a loopback, private or link-local address")
)

// CheckURL checks a webhook URL: http or https, a host, no user
// information, and unless allowPrivate no literal address (or localhost)
// that Blocked refuses. Names are checked again when connecting.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" || len(raw) > 2000 {
		return ErrURLScheme
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return ErrURLPrivate
	}
	if a, err := netip.ParseAddr(host); err == nil && Blocked(a) {
		return ErrURLPrivate
	}
	return nil
}

// cgnat and thisNet are ranges that reach no public host.
var (
	cgnat   = netip.MustParsePrefix("100.64.0.0/10")
	thisNet = netip.MustParsePrefix("0.0.0.0/8")
)

// Blocked reports whether a webhook may not connect to a: loopback,
// private, link-local, unspecified, multicast or shared addresses.
func Blocked(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a) || thisNet.Contains(a)
}

// guardDial is a net.Dialer Control function that refuses to connect to
// a blocked address, whatever name resolved to it.
func guardDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil || Blocked(a) {
		return ErrURLPrivate
	}
	return nil
}
