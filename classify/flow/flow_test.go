package flow

import (
	"testing"
	"unsafe"
)

// TestFlowSizeClass: the engine holds a Flow for every flow it classifies (and for every TCP
// flow until it is decided), so its size is paid once per open flow. 320 bytes is a size
// class of Go's allocator; one byte more takes 352.
func TestFlowSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(Flow{}); s > 320 {
		t.Errorf("flow.Flow is %d bytes, want at most 320: within the 320-byte size class a classified flow "+
			"holds 96 bytes less than in the 416-byte class (32 less than in the 352-byte one); "+
			"a new field must fit the padding or replace a wider one (Record's one-byte fields go last)", s)
	}
}
