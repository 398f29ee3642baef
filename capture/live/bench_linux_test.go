//go:build linux

package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/internal/netnstest"
)

// BenchmarkReplay replays the project's recordings with tcpreplay --topspeed into the pair,
// looped to b.N packets (run it with -benchtime=200000x), read by Workers goroutines that do
// nothing else, and reports the rate received and what was lost. On this path the sender
// (tcpreplay, one core) is usually the limit, not the reader.
func BenchmarkReplay(b *testing.B) {
	files := realCaptures(b)
	for _, backend := range backends() {
		for _, workers := range []int{1, 2} {
			if workers > 1 && backend == BackendPcap {
				continue
			}
			b.Run(fmt.Sprintf("%s/workers=%d", backend, workers), func(b *testing.B) {
				v := netnstest.New(b)
				var c *Capture
				if err := v.Do(func() (err error) {
					c, err = Open(Config{Backend: backend, Interface: v.A, Workers: workers, PollTimeout: 100 * time.Millisecond})
					return err
				}); err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var got atomic.Uint64
				var wg sync.WaitGroup
				for _, src := range c.Sources() {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var p capture.Packet
						for {
							err := src.Next(&p)
							if err == nil {
								got.Add(1)
							} else if errors.Is(err, ErrStopped) {
								return
							}
						}
					}()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				args := append([]string{"-q", "-i", v.B, "--topspeed", "--loop=0", fmt.Sprintf("--limit=%d", b.N)}, files...)
				b.ResetTimer()
				start := time.Now()
				if out, err := v.Command(ctx, "tcpreplay", args...).CombinedOutput(); err != nil {
					b.Fatalf("tcpreplay: %v: %s", err, out)
				}
				for end := time.Now().Add(5 * time.Second); got.Load() < uint64(b.N) && time.Now().Before(end); {
					time.Sleep(time.Millisecond)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				c.Stop()
				wg.Wait()
				st := sum(c.Stats())
				b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "pkts/s")
				b.ReportMetric(float64(st.Drops), "drops")
				b.ReportMetric(float64(uint64(b.N)-got.Load()), "lost")
			})
		}
	}
}

// BenchmarkNext is the cost of Next alone, on frames already in the ring (300-byte UDP
// payloads, VLAN-tagged): the ring walk, the header reads and the counters.
func BenchmarkNext(b *testing.B) {
	v := netnstest.New(b)
	var c *Capture
	if err := v.Do(func() (err error) {
		c, err = Open(Config{Interface: v.A, Workers: 1, PollTimeout: 100 * time.Millisecond})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w := v.Writer(b, v.B)
	frame := spec{src: addr("127.0.0.2", 5060), dst: addr("127.0.0.1", 5060), vlan: 10, size: 300}.frame(b)
	src := c.Sources()[0]
	var p capture.Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(frame) - 4))
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(b.N-done, 20000) // 20000 x 400 bytes fit the default 32 MiB ring
		for range n {
			if err := w.Write(frame); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(3 * blockTimeout)
		b.StartTimer()
		for range n {
			if err := src.Next(&p); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
}
