package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// TestLiveStreamCap: one account holds at most 8 live-update streams at
// once (any sessions); the 9th is refused 429 too_many_streams, another
// account is still served, and a closed stream frees its place.
func TestLiveStreamCap(t *testing.T) {
	f := MustFixture(t)
	path := "/api/v1/notebooks/" + f.NB + "/tables/People/events"
	var streams []*stream
	for range 8 {
		streams = append(streams, openStream(f, f.Alice, "People"))
	}
	if st, code := streamStatus(t, f.URL+path, f.Alice); st != http.StatusTooManyRequests || code != coffer.ESTREAMS {
		t.Fatalf("9th stream: %d %q, want 429 %s", st, code, coffer.ESTREAMS)
	}
	// Another session of the same account counts alike.
	other := f.MustLogin("alice@example.com")
	if st, code := streamStatus(t, f.URL+path, other); st != http.StatusTooManyRequests || code != coffer.ESTREAMS {
		t.Fatalf("9th stream from another session: %d %q, want 429 %s", st, code, coffer.ESTREAMS)
	}
	// Another account is served.
	var tbl coffer.Table
	f.Do("POST", "/api/v1/notebooks/"+f.BobNB+"/tables", f.Bob, map[string]any{
		"name": "Mine", "columns": []map[string]any{{"name": "Name", "type": "text"}},
	}).WantStatus(http.StatusCreated).JSON(&tbl)
	bob := *f
	bob.NB = f.BobNB
	openStream(&bob, f.Bob, "Mine")
	// Closing one frees a place (once the server saw the client go).
	streams[0].cancel()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		status, _ := streamStatus(t, f.URL+path, f.Alice)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after closing a stream: %d", status)
		}
	}
}

// streamStatus opens a stream and returns the status and, for a problem,
// its code; a stream that opens is closed at once.
func streamStatus(t *testing.T, url, key string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		return res.StatusCode, ""
	}
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || p.Detail == "" {
		t.Errorf("problem body: %v %+v", err, p)
	}
	return res.StatusCode, p.Code
}
