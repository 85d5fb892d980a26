package postgres

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckDurability runs the start-up check on settings the test
// controls (the real server's fsync is never touched).
func TestCheckDurability(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings map[string]string
		refuse   string // substring of the error, "" for none
		warn     string // substring of the one warning, "" for none
	}{
		{"durable", map[string]string{"fsync": "on", "synchronous_commit": "on"}, "", ""},
		{"fsync off", map[string]string{"fsync": "off", "synchronous_commit": "on"}, "fsync=off", ""},
		{"fsync off wins", map[string]string{"fsync": "OFF", "synchronous_commit": "off"}, "fsync=off", ""},
		{"async commit", map[string]string{"fsync": "on", "synchronous_commit": "off"}, "", "synchronous_commit=off"},
		{"local, no standby", map[string]string{"fsync": "on", "synchronous_commit": "local", "synchronous_standby_names": ""}, "", ""},
		{"local with standbys", map[string]string{"fsync": "on", "synchronous_commit": "local", "synchronous_standby_names": "s1"}, "", "synchronous_commit=local"},
		{"remote_apply", map[string]string{"fsync": "on", "synchronous_commit": "remote_apply"}, "", ""},
		{"unreadable", map[string]string{}, "SHOW fsync", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			warnings, err := checkDurability(func(name string) (string, error) {
				v, ok := c.settings[name]
				if !ok {
					return "", errors.New("unrecognized configuration parameter")
				}
				return v, nil
			})
			if c.refuse != "" {
				if err == nil || !strings.Contains(err.Error(), c.refuse) {
					t.Fatalf("got %v, want an error with %q", err, c.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.warn == "" && len(warnings) > 0:
				t.Errorf("unexpected warnings %q", warnings)
			case c.warn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], c.warn)):
				t.Errorf("warnings %q, want one with %q", warnings, c.warn)
			}
		})
	}
}
