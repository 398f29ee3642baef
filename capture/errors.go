package capture

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error Open and Next return for bad input wraps one of them, so callers
// test with errors.Is and never compare text.
var (
	// ErrEmpty: the file holds no bytes at all (or, gzip-compressed, none after decompression).
	ErrEmpty = errors.New("empty file")
	// ErrNotCapture: the first bytes are neither a pcap, a pcapng nor a gzip magic number.
	ErrNotCapture = errors.New("not a capture file")
	// ErrUnsupported: a capture format this package recognises but does not read (an unknown
	// pcap or pcapng version, a modified-pcap magic).
	ErrUnsupported = errors.New("unsupported capture format")
	// ErrCorruptGzip: the gzip header or compressed stream is damaged.
	ErrCorruptGzip = errors.New("corrupt gzip stream")
	// ErrTruncated: the file ends inside a header or record, or a record is damaged (an absurd
	// length, an unknown interface); *TruncatedError says where.
	ErrTruncated = errors.New("truncated capture")
	// ErrRecordTooLarge: a record claims more than MaxRecord captured bytes.
	ErrRecordTooLarge = errors.New("record larger than the limit")
)

// FormatError reports a file that cannot be read at all: empty, not a capture, unsupported, a
// damaged gzip header or a file header cut short. Err is one of the sentinels above.
type FormatError struct {
	File   string
	Err    error
	Detail string // for example "first bytes 48 65 6c 6c"; may be empty
}

func (e *FormatError) Error() string {
	s := e.File + ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the sentinel.
func (e *FormatError) Unwrap() error { return e.Err }

// TruncatedError ends a Source whose file is cut short or holds a damaged record. Every complete
// packet before the damage has been delivered when Next returns it.
type TruncatedError struct {
	File string
	// Offset is the byte offset, in the uncompressed stream, where the damaged or short record
	// starts. For pcap this is exact (the start of the 16-byte record header). For pcapng it is
	// where reading resumed after the last complete packet: the start of the damaged block, or
	// of the non-packet blocks (interface, statistics, ...) read just before it.
	Offset int64
	// Frame is the frame number the damaged record would have had (1 for the first).
	Frame uint64
	// Reason says what is wrong, for example "record data cut short: 20 of 60 bytes".
	Reason string
	// Err is the cause when there is a more precise one (io.ErrUnexpectedEOF, ErrCorruptGzip,
	// ErrRecordTooLarge); it may be nil.
	Err error
}

func (e *TruncatedError) Error() string {
	return e.File + ": truncated capture at byte " + strconv.FormatInt(e.Offset, 10) +
		" (frame " + strconv.FormatUint(e.Frame, 10) + "): " + e.Reason
}

// Is makes errors.Is(err, ErrTruncated) true.
func (e *TruncatedError) Is(target error) bool { return target == ErrTruncated }

// Unwrap returns the cause, if any.
func (e *TruncatedError) Unwrap() error { return e.Err }
