package ber

import "testing"

func TestParseHeader(t *testing.T) {
	cases := []struct {
		in  []byte
		h   Header
		err error
	}{
		{[]byte{0x30, 0x05}, Header{0x30, 2, 5}, nil},
		{[]byte{0x30, 0x81, 0x80}, Header{0x30, 3, 128}, nil},
		{[]byte{0x30, 0x82, 0x01, 0x00}, Header{0x30, 4, 256}, nil},
		{[]byte{0x30, 0x83, 0x01, 0x00, 0x00}, Header{0x30, 5, 65536}, nil},
		{[]byte{0x30, 0x84, 0x00, 0x00, 0x00, 0x0c}, Header{0x30, 6, 12}, nil}, // AD's 4-octet form
		{[]byte{0x30}, Header{}, ErrShort},
		{[]byte{0x30, 0x84, 0x00, 0x00}, Header{}, ErrShort},
		{[]byte{0x30, 0x80}, Header{}, ErrIndefinite},
		{[]byte{0x30, 0x85, 0, 0, 0, 0, 1}, Header{}, ErrLength},
		{[]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, Header{}, ErrLength}, // 4 GiB
		{[]byte{0x1f, 0x81, 0x00}, Header{}, ErrTag},
	}
	for _, c := range cases {
		h, err := ParseHeader(c.in)
		if h != c.h || err != c.err {
			t.Errorf("% x: %+v %v, want %+v %v", c.in, h, err, c.h, c.err)
		}
	}
}

func TestReader(t *testing.T) {
	r := Reader{0x02, 0x01, 0x05, 0x04, 0x02, 'h', 'i', 0x80, 0x00, 0x0a, 0x02, 0xff, 0x00}
	if v, ok := r.ReadInt(TagInteger); !ok || v != 5 {
		t.Fatalf("int %d %v", v, ok)
	}
	if _, ok := r.Read(TagInteger); ok {
		t.Fatal("read an octet string as an integer")
	}
	if c, ok := r.Read(TagOctetString); !ok || string(c) != "hi" {
		t.Fatalf("string %q %v", c, ok)
	}
	if c, present, ok := r.ReadOptional(ClassContext | 1); present || !ok || c != nil {
		t.Fatal("optional [1] found")
	}
	if c, present, ok := r.ReadOptional(ClassContext | 0); !present || !ok || len(c) != 0 {
		t.Fatal("optional [0] not found")
	}
	if v, ok := r.ReadInt(TagEnumerated); !ok || v != -256 {
		t.Fatalf("enumerated %d %v", v, ok)
	}
	if !r.Empty() {
		t.Fatal("bytes left")
	}
	// A length past the end reads nothing.
	r = Reader{0x04, 0x05, 'a', 'b'}
	if _, _, ok := r.ReadAny(); ok || len(r) != 4 {
		t.Fatal("read past the end")
	}
	// An integer too long for 4 octets is refused without consuming it.
	r = Reader{0x02, 0x05, 1, 2, 3, 4, 5}
	if _, ok := r.ReadInt(TagInteger); ok || len(r) != 7 {
		t.Fatal("5-octet integer accepted")
	}
}

func TestElements(t *testing.T) {
	if !Elements([]byte{0x04, 0x00, 0x30, 0x02, 0x04, 0x00}, 10) || !Elements(nil, 0) {
		t.Error("well-formed elements refused")
	}
	if Elements([]byte{0x04, 0x00, 0x30}, 10) || Elements([]byte{0x04, 0x00, 0x04, 0x00}, 1) {
		t.Error("malformed or too many elements accepted")
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x30, 0x84, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err == nil && (h.HeaderLen > len(b) || h.Len < 0 || h.Len > MaxLen) {
			t.Fatalf("%+v from % x", h, b)
		}
		r := Reader(b)
		for !r.Empty() {
			if _, _, ok := r.ReadAny(); !ok {
				break
			}
		}
	})
}
