package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/files"
)

// MaxUploadOverhead is what a multipart upload may carry besides the
// file: boundaries, part headers and small form fields.
const MaxUploadOverhead = 1 << 20

// transferContext is the request's context without the RequestTimeout
// deadline (still ended when the client goes away), with the caller: an
// upload or a download lasts as long as the bytes take.
func transferContext(r *http.Request) context.Context {
	ctx := r.Context()
	if ri := info(ctx); ri != nil && ri.base != nil {
		base := ri.base
		if c := coffer.CallerFrom(ctx); c != nil {
			base = coffer.WithCaller(base, c)
		}
		return base
	}
	return ctx
}

// withFiles answers not_found while the server has no file service.
func (s *Server) withFiles(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.svc.Files == nil {
			s.writeProblem(w, r, coffer.ENOTFOUND, "files are not served here", nil)
			return
		}
		h(w, r)
	}
}

// transferDeadline is how long one upload or download may take: the
// server's read and write timeouts are for requests of JSON.
const transferDeadline = time.Hour

// extendDeadlines gives a file transfer transferDeadline.
func extendDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(transferDeadline))
	_ = rc.SetWriteDeadline(time.Now().Add(transferDeadline))
}

// uploadFile streams the multipart field "file" into a file cell. The
// body is read part by part (mime/multipart's Reader), never parsed into
// memory or temporary files; parts before "file" other than small form
// fields are refused, parts after it are not read.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		s.writeProblem(w, r, codeMediaType, "an upload is multipart/form-data with the file in the field \"file\"", nil)
		return
	}
	max := s.cfg.MaxFileBytes
	if max <= 0 {
		max = 100 << 20
	}
	extendDeadlines(w)
	r.Body = http.MaxBytesReader(w, r.Body, max+MaxUploadOverhead)
	// Read the body in large pieces: the multipart reader's own buffer
	// is small, and would cost a system call per 4 KiB.
	mr := multipart.NewReader(bufio.NewReaderSize(r.Body, 256<<10), params["boundary"])
	var skipped int64
	for {
		part, err := mr.NextPart()
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				s.writeError(w, r, coffer.Errorf(coffer.ETOOLARGE, "the upload is larger than allowed"))
			case err == io.EOF:
				s.writeError(w, r, coffer.Invalid("no file in the upload", coffer.FieldError{Field: "file", Message: "is missing"}))
			default:
				s.writeError(w, r, coffer.Invalid("the upload is not valid multipart/form-data", coffer.FieldError{Field: "file", Message: "could not be read"}))
			}
			return
		}
		if part.FormName() != "file" {
			n, err := io.Copy(io.Discard, io.LimitReader(part, MaxUploadOverhead+1))
			part.Close()
			if skipped += n; err != nil || skipped > MaxUploadOverhead {
				s.writeError(w, r, coffer.Invalid("the upload holds more than the file", coffer.FieldError{Field: "file", Message: "must be the upload's only large field"}))
				return
			}
			continue
		}
		name := part.FileName()
		ctx := transferContext(r)
		f, err := s.svc.Files.UploadFile(ctx, r.PathValue("notebook"), r.PathValue("table"), r.PathValue("record"), r.PathValue("column"),
			coffer.FileUpload{Name: name, Type: part.Header.Get("Content-Type"), Body: &uploadBody{r: part}})
		part.Close()
		if err != nil {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				err = coffer.Errorf(coffer.ETOOLARGE, "the upload is larger than allowed")
			}
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, f)
		return
	}
}

// uploadBody reads a part, turning a body over its limit into ETOOLARGE.
type uploadBody struct{ r io.Reader }

func (u *uploadBody) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = coffer.Errorf(coffer.ETOOLARGE, "the upload is larger than allowed")
	}
	return n, err
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Files.DeleteFile(r.Context(), r.PathValue("file")))
}

func (s *Server) createFileLink(w http.ResponseWriter, r *http.Request) {
	var in coffer.FileLinkInput
	if err := s.decode(w, r, &in, 0); err != nil {
		s.writeError(w, r, err)
		return
	}
	l, err := s.svc.Files.CreateFileLink(r.Context(), r.PathValue("file"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, l)
}

func (s *Server) listFileLinks(w http.ResponseWriter, r *http.Request) {
	ls, err := s.svc.Files.FindFileLinks(r.Context(), r.PathValue("file"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": ls})
}

func (s *Server) deleteFileLink(w http.ResponseWriter, r *http.Request) {
	s.replyEmpty(w, r, s.svc.Files.DeleteFileLink(r.Context(), r.PathValue("file"), r.PathValue("link")))
}

// downloadFile serves /files/{file}: a session (cookie or bearer) with
// read access to the file's cell, checked at every download.
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("file")
	ctx := transferContext(r)
	s.serveFile(w, r, func(head bool) (*coffer.FileInfo, error) {
		return s.svc.Files.StatFile(ctx, id)
	}, func(off, n int64) (*coffer.Download, error) {
		return s.svc.Files.OpenFile(ctx, id, off, n)
	})
}

// downloadLink serves /f/{token}, a capability link. The token is never
// logged: the request log names the route pattern, not the path.
func (s *Server) downloadLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	ctx := transferContext(r)
	s.serveFile(w, r, func(bool) (*coffer.FileInfo, error) {
		d, err := s.svc.Files.OpenFileLink(ctx, token, 0, -1, true)
		if err != nil {
			return nil, err
		}
		return d.Info, nil
	}, func(off, n int64) (*coffer.Download, error) {
		return s.svc.Files.OpenFileLink(ctx, token, off, n, false)
	})
}

// serveFile answers a download: HEAD with the headers only, a Range of
// one span with 206, several spans or one outside the file with 416, and
// otherwise the whole file. stat checks access and gives the size; open
// opens the span (checking access again, counting a link's use). The
// content is decrypted as it is sent; a tampered first chunk is a
// problem response (integrity_failed), a later one aborts the response.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, stat func(head bool) (*coffer.FileInfo, error), open func(off, n int64) (*coffer.Download, error)) {
	fi, err := stat(r.Method == http.MethodHead)
	if err != nil {
		s.writeFileError(w, r, err)
		return
	}
	etag := `"` + fi.SHA256 + `"`
	rng, kind := files.ParseRange(r.Header.Get("Range"), fi.Size)
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		kind = files.RangeNone
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox")
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", etag)
	if kind == files.RangeUnsatisfiable {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(fi.Size, 10))
		s.writeProblem(w, r, coffer.ERANGE, "the file has "+strconv.FormatInt(fi.Size, 10)+" bytes; one range inside it may be asked for", nil)
		return
	}
	off, n := int64(0), fi.Size
	if kind == files.RangeOne {
		off, n = rng.Start, rng.Length
	}
	setFileHeaders := func(info *coffer.FileInfo) {
		h.Set("Content-Type", files.ServedType(info.Type))
		h.Set("Content-Disposition", files.Disposition(info.Name, info.Type))
		h.Set("Content-Length", strconv.FormatInt(n, 10))
		if kind == files.RangeOne {
			h.Set("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10)+"/"+strconv.FormatInt(info.Size, 10))
		}
	}
	status := http.StatusOK
	if kind == files.RangeOne {
		status = http.StatusPartialContent
	}
	if r.Method == http.MethodHead {
		setFileHeaders(fi)
		w.WriteHeader(status)
		return
	}
	extendDeadlines(w)
	d, err := open(off, n)
	if err != nil {
		h.Del("Content-Range")
		s.writeFileError(w, r, err)
		return
	}
	defer d.Body.Close()
	if d.Info.Size != fi.Size { // replaced between the two looks: start again
		s.writeProblem(w, r, coffer.ECONFLICT, "the file changed during the request; try again", nil)
		return
	}
	setFileHeaders(d.Info)
	w.WriteHeader(status)
	if _, err := io.Copy(w, d.Body); err != nil {
		if coffer.ErrorCode(err) == coffer.EINTEGRITY {
			s.log.LogAttrs(r.Context(), slog.LevelError, "file integrity check failed mid-download",
				slog.String("request_id", requestID(r.Context())), slog.String("file", d.Info.ID), slog.String("error", err.Error()))
		}
		// Headers are gone: the only honest answer left is a cut
		// connection, so the client sees a failed download.
		panic(http.ErrAbortHandler)
	}
}

// writeFileError answers a failed download, logging integrity failures
// (with the file, never a token).
func (s *Server) writeFileError(w http.ResponseWriter, r *http.Request, err error) {
	if coffer.ErrorCode(err) == coffer.EINTEGRITY {
		op, cause := "", ""
		var ce *coffer.Error
		if errors.As(err, &ce) {
			op = ce.Op
			if ce.Err != nil {
				cause = ce.Err.Error()
			}
		}
		s.log.LogAttrs(r.Context(), slog.LevelError, "file integrity check failed",
			slog.String("request_id", requestID(r.Context())), slog.String("op", op), slog.String("error", cause))
	}
	s.writeError(w, r, err)
}
