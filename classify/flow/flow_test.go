package flow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// TestFlowSizeClass: the engine holds an Open for every flow it classifies (and for every
// TCP flow with a payload until it is decided), so its size is paid once per open flow. 256
// bytes is a size class of Go's allocator; one byte more takes 288. The packet being
// inspected lives in the Flow of an Inspect call, which the engine reuses for every call, so
// it costs nothing per flow.
func TestFlowSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(Open{}); s > 256 {
		t.Errorf("flow.Open is %d bytes, want at most 256: within the 256-byte size class a classified flow "+
			"holds 32 bytes less than in the 288-byte class; "+
			"a new field must fit the padding or replace a wider one (Record's one-byte fields go last)", s)
	}
}

// TestTextNumbersErrorTexts: a parse error's text is kept as a number that gives the text
// back, the same for every flow that fails alike; recording it on the per-packet path does
// not allocate, and texts made from packets (a detector's bug) cannot grow the table
// without end.
func TestTextNumbersErrorTexts(t *testing.T) {
	errA, errB := errors.New("test: first error"), errors.New("test: second error")
	var f, g Open
	f.Fail(errA)
	f.Fail(errB)
	g.Fail(errA)
	if f.ParseError.String() != errA.Error() || f.ParseErrors != 2 || g.ParseError != f.ParseError {
		t.Errorf("first error %q (%d errors), another flow's %d: want %q kept once", f.ParseError, f.ParseErrors, g.ParseError, errA)
	}
	if TextOf(errB.Error()) == f.ParseError || TextOf("") != 0 || Text(0).String() != "" {
		t.Error("two texts share a number, or the empty text is not 0")
	}
	var h Open
	if n := testing.AllocsPerRun(100, func() { h = Open{}; h.Fail(errB) }); n != 0 {
		t.Errorf("Fail allocates %v times", n)
	}
	var last Text
	for i := range maxTexts + 10 {
		last = TextOf(fmt.Sprintf("test: error %d made from a packet", i))
	}
	if got := last.String(); !strings.Contains(got, "too many distinct error texts") {
		t.Errorf("text past the bound: %q", got)
	}
	if n := len(*texts.all.Load()); n > maxTexts+1 {
		t.Errorf("%d texts numbered, want at most %d", n, maxTexts+1)
	}
	if f.ParseError.String() != errA.Error() || TextOf(errA.Error()) != f.ParseError {
		t.Error("a text numbered before the bound changed")
	}
}
