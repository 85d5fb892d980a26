package ship

// Reading a SQLite WAL file (https://sqlite.org/fileformat2.html#walformat):
// a 32-byte header, then frames of a 24-byte header and one page each.
// A frame is valid when its salts are the header's and its checksum,
// computed over every frame before it, matches; a commit frame has a
// non-zero database size. Only frames up to the last valid commit frame
// were committed.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	walHeaderSize   = 32
	frameHeaderSize = 24
	walMagic        = 0x377f0682 // | 1: checksums computed big-endian
)

// walPos is how far a WAL has been read: its salt and the frames read,
// all up to a commit frame, with the running checksum after the last.
type walPos struct {
	known    bool   // the fields below describe a WAL read before
	salt     uint64 // salt-1 << 32 | salt-2
	frames   int
	s1, s2   uint32
	pageSize int
	big      bool // checksums big-endian
}

// checksum continues SQLite's WAL checksum over b (a multiple of 8 bytes).
func checksum(big bool, s1, s2 uint32, b []byte) (uint32, uint32) {
	order := binary.ByteOrder(binary.LittleEndian)
	if big {
		order = binary.BigEndian
	}
	for i := 0; i+8 <= len(b); i += 8 {
		s1 += order.Uint32(b[i:]) + s2
		s2 += order.Uint32(b[i+4:]) + s1
	}
	return s1, s2
}

// readWAL reads the committed frames of the WAL at path past pos, and
// calls emit with each one (its page number, the database size in pages
// when it is a commit frame or 0, and its page: valid only during the
// call), in order, once the commit frame ending its transaction has been
// checked. A WAL whose salt is not pos's started over: it is read from
// its first frame. It returns the new position. A missing, short or
// invalid WAL holds no frame (SQLite ignores it too).
func readWAL(path string, pos walPos, emit func(pgno, commit uint32, page []byte) error) (walPos, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return walPos{}, nil
	}
	if err != nil {
		return pos, err
	}
	defer f.Close()
	var hdr [walHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return walPos{}, nil
		}
		return pos, err
	}
	be := binary.BigEndian
	magic := be.Uint32(hdr[0:])
	ps := int(be.Uint32(hdr[8:]))
	if magic&^1 != walMagic || ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return walPos{}, nil
	}
	big := magic&1 == 1
	s1, s2 := checksum(big, 0, 0, hdr[:24])
	if s1 != be.Uint32(hdr[24:]) || s2 != be.Uint32(hdr[28:]) {
		return walPos{}, nil
	}
	salt := uint64(be.Uint32(hdr[16:]))<<32 | uint64(be.Uint32(hdr[20:]))
	if !pos.known || pos.salt != salt || pos.pageSize != ps {
		pos = walPos{known: true, salt: salt, s1: s1, s2: s2, pageSize: ps, big: big}
	}
	frameSize := int64(frameHeaderSize + ps)
	if _, err := f.Seek(walHeaderSize+int64(pos.frames)*frameSize, io.SeekStart); err != nil {
		return pos, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	// Frames of the transaction being read, kept until its commit frame.
	var group []byte
	var n int
	cs1, cs2 := pos.s1, pos.s2
	frame := make([]byte, frameSize)
	for {
		if _, err := io.ReadFull(r, frame); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return pos, nil
			}
			return pos, err
		}
		if be.Uint32(frame[8:]) != uint32(salt>>32) || be.Uint32(frame[12:]) != uint32(salt) || be.Uint32(frame[0:]) == 0 {
			return pos, nil
		}
		cs1, cs2 = checksum(big, cs1, cs2, frame[:8])
		cs1, cs2 = checksum(big, cs1, cs2, frame[frameHeaderSize:])
		if cs1 != be.Uint32(frame[16:]) || cs2 != be.Uint32(frame[20:]) {
			return pos, nil
		}
		group = append(group, frame...)
		n++
		if be.Uint32(frame[4:]) == 0 {
			continue
		}
		for off := 0; off < len(group); off += int(frameSize) {
			fr := group[off : off+int(frameSize)]
			if err := emit(be.Uint32(fr[0:]), be.Uint32(fr[4:]), fr[frameHeaderSize:]); err != nil {
				return pos, err
			}
		}
		pos.frames += n
		pos.s1, pos.s2 = cs1, cs2
		group, n = group[:0], 0
	}
}

// applyFrame writes one frame's page into the database file f, and cuts
// the file to the database size of a commit frame.
func applyFrame(f *os.File, pageSize int, pgno, commit uint32, page []byte) error {
	if pgno == 0 || len(page) != pageSize {
		return fmt.Errorf("ship: frame of page %d with %d bytes", pgno, len(page))
	}
	if _, err := f.WriteAt(page, int64(pgno-1)*int64(pageSize)); err != nil {
		return err
	}
	if commit != 0 {
		return f.Truncate(int64(commit) * int64(pageSize))
	}
	return nil
}
