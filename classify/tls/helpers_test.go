package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	ctls "crypto/tls"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// chunk is one write of a recorded conversation.
type chunk struct {
	dir  flow.Dir
	data []byte
}

// recorder logs every write of both ends of a connection, in order.
type recorder struct {
	mu     sync.Mutex
	chunks []chunk
}

type recConn struct {
	net.Conn
	dir flow.Dir
	r   *recorder
}

func (c *recConn) Write(b []byte) (int, error) {
	c.r.mu.Lock()
	c.r.chunks = append(c.r.chunks, chunk{c.dir, append([]byte(nil), b...)})
	c.r.mu.Unlock()
	return c.Conn.Write(b)
}

// testCert is a self-signed certificate and its key.
type testCert struct {
	der  []byte
	cert ctls.Certificate
}

var (
	certMu    sync.Mutex
	certCache = map[string]*testCert{}
)

var (
	notBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
)

// makeCert returns (and caches) a self-signed certificate for ldap.example.com with an RSA
// key of the given size, or ECDSA P-256 when bits is 0.
func makeCert(t testing.TB, bits int, nb, na time.Time) *testCert {
	t.Helper()
	key := string(rune(bits)) + nb.String() + na.String()
	certMu.Lock()
	defer certMu.Unlock()
	if c := certCache[key]; c != nil {
		return c
	}
	var priv any
	var pub any
	if bits == 0 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	} else {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234abcd),
		Subject:      pkix.Name{CommonName: "ldap.example.com", Organization: []string{"Example"}},
		NotBefore:    nb,
		NotAfter:     na,
		DNSNames:     []string{"ldap.example.com", "ldap"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCert{der: der, cert: ctls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}}
	certCache[key] = c
	return c
}

// handshake runs a crypto/tls client and server over net.Pipe, exchanges one message each
// way, and returns every write of both sides in order.
func handshake(t testing.TB, cert *testCert, client, server *ctls.Config) []chunk {
	t.Helper()
	a, b := net.Pipe()
	r := &recorder{}
	cc := &recConn{Conn: a, dir: flow.FromClient, r: r}
	sc := &recConn{Conn: b, dir: flow.FromServer, r: r}
	server = server.Clone()
	server.Certificates = []ctls.Certificate{cert.cert}
	client = client.Clone()
	client.InsecureSkipVerify = true
	if client.ServerName == "" {
		client.ServerName = "ldap.example.com"
	}
	errc := make(chan error, 1)
	go func() {
		s := ctls.Server(sc, server)
		defer b.Close() // not s.Close: nobody reads a close_notify on a pipe
		buf := make([]byte, 5)
		if _, err := io.ReadFull(s, buf); err != nil {
			errc <- err
			return
		}
		_, err := s.Write([]byte("world"))
		errc <- err
	}()
	c := ctls.Client(cc, client)
	if err := c.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server: %v", err)
	}
	a.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chunk(nil), r.chunks...)
}

// newFlow returns a TCP flow from a client to a server on port.
func newFlow(port uint16) *flow.Flow {
	f := flow.New()
	f.Transport = flow.TCP
	f.Client = netip.MustParseAddrPort("192.0.2.1:50000")
	f.Server = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), port)
	f.Frame, f.Time = 1, flow.TimeOf(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	return f
}

// inspector is Session.Inspect or Detector.Inspect.
type inspector func(f *flow.Flow, dir flow.Dir, data []byte) (flow.Verdict, int)

// feeder replays chunks as the engine would: per direction, the bytes not consumed are
// presented again in front of the next ones, and inspection ends at Reject or Done.
type feeder struct {
	f       *flow.Flow
	inspect inspector
	pend    [2][]byte
	v       flow.Verdict
	stopped bool
	calls   int
	swapped bool // the flow was reversed: recorded directions are flipped
	session bool // a Session fed directly: the flow counts as claimed from the start
}

func (fd *feeder) feed(t testing.TB, dir flow.Dir, data []byte) {
	t.Helper()
	if fd.stopped {
		return
	}
	if fd.swapped {
		dir = 1 - dir
	}
	buf := append(fd.pend[dir], data...)
	fd.f.Frame++
	fd.calls++
	claimed := fd.session || fd.f.Label != flow.Unknown
	v, n := fd.inspect(fd.f, dir, buf)
	if n < 0 || n > len(buf) {
		t.Fatalf("consumed %d of %d", n, len(buf))
	}
	fd.v = v
	switch {
	case v != flow.More:
		fd.stopped = true
	case !claimed && fd.f.Label == flow.Unknown && !fd.session:
		fd.pend[dir] = buf // undecided: the whole prefix again
	default:
		fd.pend[dir] = append([]byte(nil), buf[n:]...)
	}
	if !claimed && fd.f.Label != flow.Unknown && fd.f.TakeReverse() && !fd.f.ClientKnown {
		fd.f.Client, fd.f.Server = fd.f.Server, fd.f.Client
		fd.pend[0], fd.pend[1] = fd.pend[1], fd.pend[0]
		fd.swapped = !fd.swapped
	}
}

// replay feeds a whole conversation to a fresh Session and returns the flow.
func replay(t testing.TB, port uint16, chunks []chunk) (*flow.Flow, flow.Verdict) {
	t.Helper()
	f := newFlow(port)
	s := &Session{}
	fd := &feeder{f: f, inspect: s.Inspect, session: true}
	for _, c := range chunks {
		fd.feed(t, c.dir, c.data)
	}
	return f, fd.v
}

// Record and handshake builders for hand-made fixtures.

func record(typ byte, version uint16, body []byte) []byte {
	b := []byte{typ, byte(version >> 8), byte(version), byte(len(body) >> 8), byte(len(body))}
	return append(b, body...)
}

func hsMsg(typ byte, body []byte) []byte {
	b := []byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return append(b, body...)
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func vec8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }
func vec16(b []byte) []byte { return append(u16(uint16(len(b))), b...) }
func vec24(b []byte) []byte {
	return append([]byte{byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}, b...)
}

func ext(typ uint16, body []byte) []byte { return cat(u16(typ), vec16(body)) }

// clientHelloBody builds a ClientHello body.
func clientHelloBody(version uint16, sid []byte, suites []uint16, exts ...[]byte) []byte {
	var cs []byte
	for _, s := range suites {
		cs = append(cs, u16(s)...)
	}
	b := cat(u16(version), make([]byte, 32), vec8(sid), vec16(cs), vec8([]byte{0}))
	if exts != nil {
		b = append(b, vec16(cat(exts...))...)
	}
	return b
}

// serverHelloBody builds a ServerHello body.
func serverHelloBody(version uint16, sid []byte, suite uint16, exts ...[]byte) []byte {
	b := cat(u16(version), bytesOf(0x11, 32), vec8(sid), u16(suite), []byte{0})
	if exts != nil {
		b = append(b, vec16(cat(exts...))...)
	}
	return b
}

func bytesOf(v byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

func sni(name string) []byte {
	return ext(extServerName, vec16(cat([]byte{0}, vec16([]byte(name)))))
}

func alpn(protos ...string) []byte {
	var l []byte
	for _, p := range protos {
		l = append(l, vec8([]byte(p))...)
	}
	return ext(extALPN, vec16(l))
}
