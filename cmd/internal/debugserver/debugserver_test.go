package debugserver

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Two servers in one process each publish their own progress next to expvar's variables.
func TestTwoServersShowTheirOwnProgress(t *testing.T) {
	var addrs []string
	for _, n := range []int{1, 2} {
		s, err := Start("127.0.0.1:0", func() any { return map[string]int{"n": n} })
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		addrs = append(addrs, s.Addr())
	}
	for i, addr := range addrs {
		resp, err := http.Get("http://" + addr + "/debug/vars")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var v struct {
			Pcapaudit struct{ N int }
			Memstats  struct{ HeapAlloc uint64 }
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("server %d: /debug/vars is not JSON: %v\n%s", i+1, err, body)
		}
		if v.Pcapaudit.N != i+1 || v.Memstats.HeapAlloc == 0 {
			t.Errorf("server %d: progress %d, HeapAlloc %d; want its own progress and expvar's memstats", i+1, v.Pcapaudit.N, v.Memstats.HeapAlloc)
		}
	}
}

func TestStartRefusesBadAddresses(t *testing.T) {
	for _, addr := range []string{"", "no-port", "127.0.0.1:70000"} {
		if s, err := Start(addr, func() any { return nil }); err == nil {
			s.Close()
			t.Errorf("Start(%q) listened on %s", addr, s.Addr())
		}
	}
}
