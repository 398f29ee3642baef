package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"
)

// reference is encoding/json's encoding of v with HTML escaping off, without the newline.
func reference(t testing.TB, v any) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// String escapes every string as encoding/json does: every byte value alone, every rune
// around the edges of UTF-8 and the separators, invalid sequences, and random byte strings.
func TestString(t *testing.T) {
	var cases []string
	for c := range 256 {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, r := range []rune{0x7f, 0x80, 0x7ff, 0x800, 0xfffd, 0xffff, 0x10000, 0x10ffff, 0x2027, 0x2028, 0x2029, 0x202a, 0xd7ff, 0xe000} {
		cases = append(cases, string(r), "x"+string(r)+"\x00")
	}
	cases = append(cases, "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe2\x80", "\xe2\x80\xa8\xe2", `"\"\\`)
	rng := rand.New(rand.NewPCG(1, 1))
	for range 2000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := reference(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := String(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("String(%q) = %s, encoding/json writes %s", s, got, want)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x1f\x7f", "\u2028", "\xff", "é✓"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := reference(t, s)
		if err != nil {
			t.Fatal(err)
		}
		got := String([]byte("prefix"), s)
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("String(%q) = %s, encoding/json writes %s", s, got[len("prefix"):], want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("String(%q) = %q is not valid UTF-8", s, got)
		}
	})
}

// Float writes float64 and float32 values as encoding/json does: the edges of the exponent
// form, signed zero, subnormals, the extremes, and random bit patterns; NaN and ±Inf fail as
// they do there.
func TestFloat(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1e-6, math.Nextafter(1e-6, 0), 1e21, math.Nextafter(1e21, 0), -1e21,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.MaxFloat32, 1e-45, 0.1, 1 / 3.0, 123456789012345678}
	rng := rand.New(rand.NewPCG(2, 2))
	for range 5000 {
		vals = append(vals, math.Float64frombits(rng.Uint64()), float64(math.Float32frombits(rng.Uint32())))
	}
	for _, f := range vals {
		var e Encoder
		want, err := reference(t, f)
		got := e.Float(nil, f, 64, "f")
		if (err != nil) != (e.Err != nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("float64 %v: Float wrote %s (%v), encoding/json %s (%v)", f, got, e.Err, want, err)
		}
		f32 := float32(f)
		want, err = reference(t, f32)
		e = Encoder{}
		got = e.Float(nil, float64(f32), 32, "f")
		if (err != nil) != (e.Err != nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("float32 %v: Float wrote %s (%v), encoding/json %s (%v)", f32, got, e.Err, want, err)
		}
	}
}

// Time writes times as time.Time's MarshalJSON, in every zone and at the ends of the years it
// takes, and fails where it fails.
func TestTime(t *testing.T) {
	times := []time.Time{{}, time.Unix(0, 1).UTC(), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Unix(1e9, 5e8).In(time.FixedZone("a", -12*3600-30*60)), time.Unix(1e9, 0).In(time.FixedZone("b", 24*3600)),
		time.Unix(1e9, 120).Local()}
	for _, tm := range times {
		var e Encoder
		want, err := reference(t, tm)
		got := e.Time(nil, tm, "t")
		if (err != nil) != (e.Err != nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("%v: Time wrote %s (%v), encoding/json %s (%v)", tm, got, e.Err, want, err)
		}
	}
}

// The leaves allocate nothing.
func TestNoAllocations(t *testing.T) {
	var e Encoder
	b := make([]byte, 0, 256)
	tm := time.Unix(1e9, 123).UTC()
	if n := testing.AllocsPerRun(100, func() {
		b = String(b[:0], "héllo\n\xff\u2028\"")
		b = e.Float(b, 1.25e-9, 64, "f")
		b = e.Time(b, tm, "t")
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// BenchmarkString is the cost of escaping the strings facts hold: mostly plain ASCII, some
// with a character to escape or non-ASCII text.
func BenchmarkString(b *testing.B) {
	strs := []string{"cn=admin,dc=example,dc=org", "sip:alice@127.0.0.1:5060;transport=udp", "REGISTER", "1.2",
		"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", `Digest realm="x"`, "Müller", "servicePrincipalName"}
	n := 0
	for _, s := range strs {
		n += len(s)
	}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, s := range strs {
			buf = String(buf, s)
		}
	}
}
