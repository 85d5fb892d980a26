package value

import (
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/cofferhq/coffer"
)

// MaxFiles bounds the files of one file cell.
const MaxFiles = 100

// storedFile is one file of a file cell in its storage form: the cell is
// a JSON array of them, in upload order. The content and keys live in the
// notebook's _files table; the cell lists what the record shows.
type storedFile struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
}

// EncodeFiles returns the storage form of a file cell holding files (nil
// for none).
func EncodeFiles(files []coffer.File) any {
	if len(files) == 0 {
		return nil
	}
	out := make([]storedFile, len(files))
	for i, f := range files {
		out[i] = storedFile{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, SHA256: f.SHA256}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// DecodeFiles reads the files of a file cell from its storage form; false
// when it cannot be read.
func DecodeFiles(stored any) ([]coffer.File, bool) {
	if stored == nil {
		return nil, true
	}
	s, ok := storedString(stored)
	if !ok {
		return nil, false
	}
	if s == "" {
		return nil, true
	}
	var list []storedFile
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, false
	}
	out := make([]coffer.File, 0, len(list))
	for _, f := range list {
		if coffer.FileNotebook(f.ID) == "" {
			return nil, false
		}
		out = append(out, coffer.File{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, SHA256: f.SHA256, URL: coffer.FileURL(f.ID)})
	}
	return out, true
}

// readFiles normalizes a stored file cell to its JSON form.
func readFiles(stored any) (any, bool) {
	files, ok := DecodeFiles(stored)
	if !ok {
		return nil, false
	}
	if len(files) == 0 {
		return nil, true
	}
	return files, true
}

// fileFromJSON reads a file cell's JSON form (an array of files as the
// API shows them, as history keeps them) back into its storage form. It
// serves the server's own writes (undo, revert, restore): the record API
// refuses file cells before values get here, since files come only by
// upload.
func fileFromJSON(_ *coffer.Column, v any) (any, error) {
	var raw []byte
	switch x := v.(type) {
	case []coffer.File:
		return EncodeFiles(x), nil
	case []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, problem("must be a list of files")
		}
		raw = b
	default:
		return nil, problem("must be a list of files")
	}
	var list []storedFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&list); err != nil {
		return nil, problem("must be a list of files")
	}
	if len(list) > MaxFiles {
		return nil, problemf("must hold at most %d files", MaxFiles)
	}
	files := make([]coffer.File, 0, len(list))
	for _, f := range list {
		if coffer.FileNotebook(f.ID) == "" || f.Size < 0 || len(f.Name) > 1024 || !validSHA(f.SHA256) {
			return nil, problem("must be a list of files")
		}
		files = append(files, coffer.File{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, SHA256: f.SHA256})
	}
	return EncodeFiles(files), nil
}

func validSHA(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}
