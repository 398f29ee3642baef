//go:build linux

package netnstest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// MTU of both ends of the pair.
const MTU = 9000

// Veth is a namespace with a veth pair A <-> B inside: a frame written to B arrives on A, and
// the other way round.
type Veth struct {
	NS   string // the namespace's name (ip netns)
	A, B string // the ends' names, inside NS
}

var seq atomic.Int64

// New makes the namespace and the pair, both ends up, or skips the test.
func New(t testing.TB) *Veth {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2) to make a network namespace")
	}
	removeStale()
	v := &Veth{NS: fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.Add(1)), A: "veth-a", B: "veth-b"}
	if out, err := exec.Command("ip", "netns", "add", v.NS).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: ip netns add: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", v.NS).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", v.NS, err, out)
		}
	})
	// IPv6 off before the links exist, so they inherit it from "default".
	if err := v.Do(func() error {
		for _, f := range []string{"default", "all"} {
			err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1\n"), 0)
			if err != nil && !errors.Is(err, fs.ErrNotExist) { // no IPv6 in this kernel at all
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("turning IPv6 off in %s: %v", v.NS, err)
	}
	for _, args := range [][]string{
		{"link", "add", "name", v.A, "mtu", fmt.Sprint(MTU), "type", "veth", "peer", "name", v.B, "mtu", fmt.Sprint(MTU)},
		{"link", "set", v.A, "up"},
		{"link", "set", v.B, "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", v.NS}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %s: %v: %s", v.NS, strings.Join(args, " "), err, out)
		}
	}
	return v
}

// prefix names the namespaces this package makes: prefix, process id, "-", sequence number.
const prefix = "pcapaudit-test-"

// removeStale deletes the namespaces left by test processes that died before their cleanup
// (a crash, a kill): those whose process id is no longer running.
func removeStale() {
	names, _ := filepath.Glob("/run/netns/" + prefix + "*")
	for _, path := range names {
		name := filepath.Base(path)
		pid, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		if _, err := strconv.Atoi(pid); !ok || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, fs.ErrNotExist) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// Do runs fn on an OS thread that has entered the namespace, and returns its error. Sockets
// fn opens stay in the namespace after it returns, whichever goroutine then uses them. The
// thread is thrown away afterwards (it is never handed back to other goroutines).
func (v *Veth) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		ns, err := os.Open("/run/netns/" + v.NS)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
		ns.Close()
		if err != nil {
			errc <- fmt.Errorf("entering %s: %w", v.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Command is name with args run inside the namespace (ip netns exec).
func (v *Veth) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", v.NS, name}, args...)...)
}

// Writer sends raw frames out of one end of the pair.
type Writer struct {
	fd int
}

// Writer opens a raw packet socket on the end named dev (v.A or v.B) that only sends (it is
// bound with protocol 0, so it receives nothing). It is closed when the test ends.
func (v *Veth) Writer(t testing.TB, dev string) *Writer {
	t.Helper()
	w := &Writer{fd: -1}
	err := v.Do(func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		w.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("raw socket on %s in %s: %v", dev, v.NS, err)
	}
	t.Cleanup(func() { unix.Close(w.fd) })
	return w
}

// Write sends one frame (Ethernet header included) and waits while the socket's buffer is
// full, so no frame is lost on the sending side.
func (w *Writer) Write(frame []byte) error {
	for {
		_, err := unix.Write(w.fd, frame)
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
			runtime.Gosched()
			continue
		}
		return err
	}
}
