// Package debugserver serves a running pcapaudit's insides over HTTP, for the person who
// asked for it with --debug-addr: Go's profiler (net/http/pprof, under /debug/pprof/) and its
// variables (expvar, under /debug/vars: the command line, the runtime's memory statistics and
// the program's own progress).
//
// It is off unless asked for, and it listens where it is told: the profiles show the inside
// of the process, so the address should be a loopback one (localhost:6060) or otherwise
// protected.
package debugserver

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Server is a running debug server.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Start listens on addr (host:port; port 0 picks a free one) and serves in the background.
// progress, called on each request of /debug/vars, gives the value published there under
// "pcapaudit"; it must be safe to call from another goroutine.
func Start(addr string, progress func() any) (*Server, error) {
	mux := http.NewServeMux()
	Mount(mux, progress)
	return Listen(addr, mux)
}

// Mount adds the profiler (/debug/pprof/) and the variables (/debug/vars, with progress under
// "pcapaudit") to mux: a sensor serves them beside its metrics.
func Mount(mux *http.ServeMux, progress func() any) {
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves the named profiles (heap, goroutine, ...)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/vars", vars(progress))
}

// Listen listens on addr (host:port; port 0 picks a free one) and serves h in the background.
func Listen(addr string, h http.Handler) (*Server, error) {
	if addr == "" {
		return nil, errors.New("no address")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go s.srv.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed on Close
	return s, nil
}

// Addr is the address the server listens on (with the port chosen when it was 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and the requests in flight (a CPU profile being taken ends early).
func (s *Server) Close() error { return s.srv.Close() }

// vars writes what expvar's own handler writes (every published variable: cmdline,
// memstats, ...) and the program's progress under "pcapaudit". expvar's registry is global,
// so the progress is not published there: two servers in one process (tests) each show their
// own.
func vars(progress func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		p, err := json.Marshal(progress())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprintf(w, "{\n%q: %s", "pcapaudit", p)
		expvar.Do(func(kv expvar.KeyValue) {
			fmt.Fprintf(w, ",\n%q: %s", kv.Key, kv.Value)
		})
		fmt.Fprintf(w, "\n}\n")
	}
}
