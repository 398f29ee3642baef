package flow

import (
	"testing"
	"unsafe"
)

// TestFlowSizeClass: the engine holds a Flow for every flow it classifies (and for every TCP
// flow until it is decided), so its size is paid once per open flow. 288 bytes is a size
// class of Go's allocator; one byte more takes 320.
func TestFlowSizeClass(t *testing.T) {
	if s := unsafe.Sizeof(Flow{}); s > 288 {
		t.Errorf("flow.Flow is %d bytes, want at most 288: within the 288-byte size class a classified flow "+
			"holds 32 bytes less than in the 320-byte class; "+
			"a new field must fit the padding or replace a wider one (Record's one-byte fields go last)", s)
	}
}
