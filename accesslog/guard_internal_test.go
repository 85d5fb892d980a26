package accesslog

import "testing"

// TestGuardDial refuses connections to blocked addresses whatever name
// led there (the check runs on the address being dialled).
func TestGuardDial(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:80": false, "[::1]:443": false, "10.0.0.5:8080": false, "169.254.169.254:80": false, "203.0.113.9:443": true, "[2001:db8::1]:443": true} {
		if err := guardDial("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("guardDial(%s) = %v, want ok %v", addr, err, ok)
		}
	}
}
