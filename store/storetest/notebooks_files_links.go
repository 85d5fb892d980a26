package storetest

// Capability links to files.

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/store/all"
)

// testFilesLinks: capability links open the file without a caller until
// revoked, expired, used up or the file deleted; a burst of parallel
// downloads never passes max_downloads; only owners and holders of share
// manage them, and the token is kept only as a hash.
func testFilesLinks(t *testing.T, s *all.Store) {
	clk := newClock(time.Now().UTC().Truncate(time.Second))
	s.Now = clk.Now
	f := newFilesFixture(t, s)
	fl := f.mustUpload(t, "l.txt", []byte("linked"))
	anon := context.Background()
	open := func(url string) error {
		d, err := s.OpenFileLink(anon, strings.TrimPrefix(url, "/f/"), 0, -1, false)
		if err != nil {
			return err
		}
		defer d.Body.Close()
		got, err := io.ReadAll(d.Body)
		if err == nil && string(got) != "linked" {
			t.Errorf("link download: %q", got)
		}
		return err
	}
	plain, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{})
	if err != nil || !strings.HasPrefix(plain.URL, "/f/") || len(plain.URL) < 3+26+43 {
		t.Fatalf("CreateFileLink: %+v, %v", plain, err)
	}
	if err := open(plain.URL); err != nil {
		t.Fatalf("open link: %v", err)
	}
	// Listed without the token.
	ls, err := s.FindFileLinks(f.ctx, fl.ID)
	if err != nil || len(ls) != 1 || ls[0].URL != "" || ls[0].Downloads != 1 {
		t.Errorf("FindFileLinks: %+v, %v", ls, err)
	}
	// A wrong token, or a token of another shape.
	token := strings.TrimPrefix(plain.URL, "/f/")
	other := "A" // another last character (the same one would be the token itself)
	if strings.HasSuffix(token, other) {
		other = "B"
	}
	wantCode(t, open("/f/"+token[:len(token)-1]+other), coffer.ENOTFOUND)
	wantCode(t, open("/f/x"), coffer.ENOTFOUND)
	// Revoked.
	if err := s.DeleteFileLink(f.ctx, fl.ID, plain.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, open(plain.URL), coffer.ENOTFOUND)
	wantCode(t, s.DeleteFileLink(f.ctx, fl.ID, plain.ID), coffer.ENOTFOUND)
	// Expired.
	exp := clk.Now().Add(time.Hour)
	el, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if err := open(el.URL); err != nil {
		t.Errorf("before expiry: %v", err)
	}
	clk.Add(2 * time.Hour)
	wantCode(t, open(el.URL), coffer.ENOTFOUND)
	past := clk.Now().Add(-time.Minute)
	_, err = s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{ExpiresAt: &past})
	wantCode(t, err, coffer.EINVALID)
	zero := int64(0)
	_, err = s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{MaxDownloads: &zero})
	wantCode(t, err, coffer.EINVALID)
	// Used up, under a burst.
	three := int64(3)
	ml, err := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{MaxDownloads: &three})
	if err != nil {
		t.Fatal(err)
	}
	var ok, notFound atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := open(ml.URL); coffer.ErrorCode(err) {
			case "":
				ok.Add(1)
			case coffer.ENOTFOUND:
				notFound.Add(1)
			default:
				// A busy database may refuse; it never passes the bound.
				if coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
					t.Errorf("burst: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for ok.Load() < 3 && open(ml.URL) == nil {
		ok.Add(1)
	}
	if ok.Load() != 3 {
		t.Errorf("%d downloads succeeded on max_downloads=3", ok.Load())
	}
	wantCode(t, open(ml.URL), coffer.ENOTFOUND)
	// HEAD counts nothing.
	hl, _ := s.CreateFileLink(f.ctx, fl.ID, coffer.FileLinkInput{MaxDownloads: &three})
	for range 5 {
		if _, err := s.OpenFileLink(anon, strings.TrimPrefix(hl.URL, "/f/"), 0, -1, true); err != nil {
			t.Fatalf("HEAD: %v", err)
		}
	}
	if err := open(hl.URL); err != nil {
		t.Errorf("after HEADs: %v", err)
	}
	// The file deleted: every link is gone.
	if err := s.DeleteFile(f.ctx, fl.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, open(hl.URL), coffer.ENOTFOUND)
	// Rights: a viewer may not manage links; a grantee with share may.
	fl2 := f.mustUpload(t, "m.txt", []byte("linked"))
	viewerCtx, viewer := MustUser(t, s)
	if _, err := s.PutMember(f.ctx, f.nb, viewer.ID, coffer.MemberInput{Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateFileLink(viewerCtx, fl2.ID, coffer.FileLinkInput{})
	wantCode(t, err, coffer.EFORBIDDEN)
	_, err = s.FindFileLinks(viewerCtx, fl2.ID)
	wantCode(t, err, coffer.EFORBIDDEN)
	sharerCtx, sharer := MustUser(t, s)
	table := f.tbl.ID
	if _, err := s.CreateGrant(f.ctx, f.nb, coffer.GrantInput{Principal: coffer.Principal{Type: "user", ID: sharer.ID}, Table: &table,
		Columns: map[string]string{"*": "read"}, Capabilities: []string{"share"}}); err != nil {
		t.Fatal(err)
	}
	sl, err := s.CreateFileLink(sharerCtx, fl2.ID, coffer.FileLinkInput{})
	if err != nil {
		t.Fatalf("grantee with share: %v", err)
	}
	if err := open(sl.URL); err != nil {
		t.Errorf("sharer's link: %v", err)
	}
	strangerCtx, _ := MustUser(t, s)
	_, err = s.CreateFileLink(strangerCtx, fl2.ID, coffer.FileLinkInput{})
	wantCode(t, err, coffer.ENOTFOUND)
}
