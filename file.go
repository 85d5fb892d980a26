package coffer

import (
	"context"
	"io"
	"strings"
	"time"
)

// File is one file of a file cell, as the cell and the API show it. Its
// content is encrypted at rest and reached through URL ("/files/{id}",
// which needs a session and read access to the cell) or through
// capability links (FileLink).
type File struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`   // detected media type
	SHA256 string `json:"sha256"` // hex, of the plaintext
	URL    string `json:"url"`
}

// FileInfo is a file with the metadata a download needs.
type FileInfo struct {
	File
	Notebook   string    `json:"notebook"`
	Table      string    `json:"table"`
	Record     string    `json:"record"`
	Column     string    `json:"column"`
	UploadedBy string    `json:"uploaded_by"`
	CreatedAt  time.Time `json:"created_at"`
}

// FileLink is a capability link to a file: whoever holds its URL may
// download the file until it expires, is revoked, reaches MaxDownloads or
// the file is deleted. URL holds the token only in the answer to
// CreateFileLink; the server keeps only its hash.
type FileLink struct {
	ID           string     `json:"id"`
	File         string     `json:"file"`
	URL          string     `json:"url,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at"`
	MaxDownloads *int64     `json:"max_downloads"`
	Downloads    int64      `json:"downloads"`
	CreatedBy    string     `json:"created_by"`
	CreatedAt    time.Time  `json:"created_at"`
}

// FileLinkInput describes a capability link to create; nil fields do not
// bound it.
type FileLinkInput struct {
	ExpiresAt    *time.Time `json:"expires_at"`
	MaxDownloads *int64     `json:"max_downloads"`
}

// FileUpload is a file to attach: its content is read once, streamed.
type FileUpload struct {
	Name string // the client's name for it: metadata only, cleaned
	Type string // the declared media type ("" for none)
	Body io.Reader
}

// Download is an open file: its metadata and a reader of its plaintext
// from Offset, Length bytes long. The caller closes it.
type Download struct {
	Info   *FileInfo
	Offset int64
	Length int64
	Body   io.ReadCloser
}

// FileService stores files in file cells and serves them.
//
// Uploads and deletions are writes of the cell: they need write access to
// the cell (the row before and after, like any write), become actions of
// the notebook's history that undo can reverse, and bump the record's
// version. Downloads need read access to the cell at each download; a
// file, row or column the caller may not see answers ENOTFOUND, exactly
// like a missing file.
type FileService interface {
	// UploadFile streams a file into a file cell. EINVALID (not a file
	// column, empty name), ETOOLARGE (a size limit), ENOTFOUND,
	// EFORBIDDEN.
	UploadFile(ctx context.Context, notebook, table, record, column string, up FileUpload) (*File, error)
	// DeleteFile removes a file from its cell; the blob stays until the
	// orphan collection's grace period has passed, so undo brings it
	// back. ENOTFOUND, EFORBIDDEN.
	DeleteFile(ctx context.Context, id string) error
	// OpenFile opens a file for the caller, from offset, length bytes
	// (length < 0: to the end); the range must lie inside the file (an
	// empty file opens at 0 only), else ERANGE. ENOTFOUND; EINTEGRITY when
	// the stored content was altered (found before any byte is given).
	OpenFile(ctx context.Context, id string, offset, length int64) (*Download, error)
	// StatFile returns a file's metadata under the rules of OpenFile.
	StatFile(ctx context.Context, id string) (*FileInfo, error)
	// OpenFileLink opens the file of a capability link, counting one
	// download (race-safe: never more than MaxDownloads). A revoked,
	// expired, used-up link or a deleted file answers ENOTFOUND. head
	// reads the metadata without counting a download (Body is nil).
	OpenFileLink(ctx context.Context, token string, offset, length int64, head bool) (*Download, error)
	// CreateFileLink makes a capability link to a file: its notebook's
	// owners, or callers with the share capability on its table who may
	// read the cell. ENOTFOUND, EFORBIDDEN, EINVALID.
	CreateFileLink(ctx context.Context, file string, in FileLinkInput) (*FileLink, error)
	// FindFileLinks lists a file's live links, without tokens; rights as
	// CreateFileLink.
	FindFileLinks(ctx context.Context, file string) ([]*FileLink, error)
	// DeleteFileLink revokes a link; rights as CreateFileLink.
	DeleteFileLink(ctx context.Context, file, link string) error
}

// The id prefixes of files and file links.
const (
	PrefixFile     = "fil_"
	PrefixFileLink = "lnk_"
)

// NewFileID returns a new file id for notebook nb: the prefix, the 26
// characters of the notebook's id, then those of a new id, so that a file
// is found from its id alone.
func NewFileID(nb string) string {
	return PrefixFile + strings.TrimPrefix(nb, PrefixNotebook) + NewID("")
}

// FileNotebook returns the notebook id of a file id, or "" when id is not
// shaped like one.
func FileNotebook(id string) string {
	if len(id) != len(PrefixFile)+52 || !strings.HasPrefix(id, PrefixFile) {
		return ""
	}
	for _, c := range id[len(PrefixFile):] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return ""
		}
	}
	return PrefixNotebook + id[len(PrefixFile):len(PrefixFile)+26]
}

// FileURL is the authenticated link of file id.
func FileURL(id string) string { return "/files/" + id }

// The error codes of files (EINTEGRITY is in error.go).
const (
	// ERANGE: a byte range that a file does not have.
	ERANGE = "range_not_satisfiable"
)
