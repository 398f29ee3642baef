//go:build linux

package live

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/internal/netnstest"
)

// TestLinkDownAndUp: a link that goes down and up again is waited through: Next returns only
// ErrTimeout meanwhile (a reader that ends on other errors keeps running), afpacket counts the
// flap in Stats.LinkDowns, and capture resumes on the same Sources.
func TestLinkDownAndUp(t *testing.T) {
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) { testLinkDownAndUp(t, backend) })
	}
}

func testLinkDownAndUp(t *testing.T, backend string) {
	v := netnstest.New(t)
	c := open(t, v, Config{Backend: backend, Workers: 1, PollTimeout: 20 * time.Millisecond})
	src := c.Sources()[0]
	ip := func(args ...string) {
		t.Helper()
		if out, err := v.Command(context.Background(), "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	w := v.Writer(t, v.B)
	frame := spec{src: addr("127.0.0.2", 1), dst: addr("127.0.0.1", 2), vlan: -1, id: 7}.frame(t)
	var p capture.Packet
	// next reads for up to d, returning the first result other than ErrTimeout.
	next := func(d time.Duration) error {
		for end := time.Now().Add(d); time.Now().Before(end); {
			if err := src.Next(&p); !errors.Is(err, ErrTimeout) {
				return err
			}
		}
		return ErrTimeout
	}
	ip("link", "set", v.A, "down")
	if err := next(300 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("link down: Next returned %v, want only ErrTimeout", err)
	}
	if n := c.Stats()[0].LinkDowns; backend == BackendAFPacket && n != 1 {
		t.Errorf("LinkDowns %d, want 1", n)
	}
	ip("link", "set", v.A, "up")
	time.Sleep(100 * time.Millisecond)
	for range 3 {
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := next(2 * time.Second); err != nil {
		t.Fatalf("after the link came back up: %v, want a packet", err)
	}
}

// TestInterfaceRemoved: when the interface is deleted, Next says so with ErrInterfaceGone, once
// per poll timeout (not in a tight loop), until Stop.
func TestInterfaceRemoved(t *testing.T) {
	v := netnstest.New(t)
	c := open(t, v, Config{Workers: 2, PollTimeout: 20 * time.Millisecond})
	if out, err := v.Command(context.Background(), "ip", "link", "del", v.A).CombinedOutput(); err != nil {
		t.Fatalf("ip link del: %v: %s", err, out)
	}
	for i, src := range c.Sources() {
		var p capture.Packet
		start := time.Now()
		var errs []error
		for range 3 {
			errs = append(errs, src.Next(&p))
		}
		for _, err := range errs[1:] {
			if !errors.Is(err, ErrInterfaceGone) || !strings.Contains(err.Error(), v.A) {
				t.Errorf("source %d: %v after the interface was removed, want ErrInterfaceGone naming it", i, errs)
				break
			}
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("source %d: three calls in %v: no wait between the errors", i, d)
		}
	}
	c.Stop()
	var p capture.Packet
	if err := c.Sources()[0].Next(&p); !errors.Is(err, ErrStopped) {
		t.Errorf("after Stop: %v", err)
	}
}
