//go:build linux

package live

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/internal/netnstest"
)

// TestLinkDownAndUp: a link that goes down and up again: Next reports the socket error, then
// capture resumes on the same Sources.
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
	next := func() error {
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			if err := src.Next(&p); !errors.Is(err, ErrTimeout) {
				return err
			}
		}
		return ErrTimeout
	}
	ip("link", "set", v.A, "down")
	err := next()
	t.Logf("link down: %v", err)
	if backend == BackendAFPacket && !errors.Is(err, unix.ENETDOWN) {
		t.Errorf("link down: %v, want ENETDOWN", err)
	}
	ip("link", "set", v.A, "up")
	time.Sleep(100 * time.Millisecond)
	for range 3 {
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	for {
		err = next()
		if err == nil {
			break
		}
		if errors.Is(err, ErrTimeout) {
			t.Fatal("no packet after the link came back up")
		}
		t.Logf("then: %v", err)
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
