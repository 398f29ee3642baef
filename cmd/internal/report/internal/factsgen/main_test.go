package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pcapaudit/pcapaudit/cmd/internal/report/internal/jsonenc"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report/internal/jsontest"
)

// The generated files in the repository are what the types make of them now: a field added
// to the protocol facts (or a change of the generator) fails here until go generate is run.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	for _, c := range []struct {
		file   string
		sample bool
	}{{factsFile, false}, {sampleFile, true}} {
		want, err := generate(c.sample)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go generate ./cmd/internal/report/...", c.file)
		}
	}
}

// The generated encoder of jsontest.Sample writes what encoding/json writes, byte for byte, for
// values with every field set (plain) and for values picked among the ones encoders get wrong
// (hostile strings, float edges, extreme integers, nil and empty lists, nil pointers, zones).
// Sample has every shape the generator supports: embedded structs whose names collide,
// omitempty and omitzero on every kind, IsZero and AppendJSON methods on values and pointers.
func TestSampleMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var e jsonenc.Encoder
	var b []byte
	for i := range 3000 {
		var s jsontest.Sample
		(&jsontest.Filler{Rand: rng, Odd: i%5 != 0}).Fill(reflect.ValueOf(&s).Elem())
		want, err := jsontest.Reference(&s)
		if err != nil {
			t.Fatalf("case %d: encoding/json: %v", i, err)
		}
		b = appendSample(&e, b[:0], &s)
		if e.Err != nil {
			t.Fatalf("case %d: %v", i, e.Err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("case %d: the generated encoder wrote\n%s\nencoding/json\n%s", i, b, want)
		}
	}
}

// A value JSON cannot hold fails in the generated encoder as it does in encoding/json, and
// the error names the field.
func TestSampleUnsupportedValues(t *testing.T) {
	for _, c := range []struct {
		field string
		set   func(*jsontest.Leaves)
	}{
		{"jsontest.Leaves.F64", func(l *jsontest.Leaves) { l.F64 = math.NaN() }},
		{"jsontest.Leaves.F64", func(l *jsontest.Leaves) { l.F64 = math.Inf(1) }},
		{"jsontest.Leaves.F32", func(l *jsontest.Leaves) { l.F32 = float32(math.Inf(-1)) }},
		{"jsontest.Leaves.T", func(l *jsontest.Leaves) { l.T = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"jsontest.Leaves.T", func(l *jsontest.Leaves) { l.T = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"jsontest.Leaves.TZ", func(l *jsontest.Leaves) { l.TZ = time.Unix(0, 0).In(time.FixedZone("z", 24*3600)) }},
	} {
		s := jsontest.Sample{Leaves: &jsontest.Leaves{}}
		c.set(s.Leaves)
		if _, err := jsontest.Reference(&s); err == nil {
			t.Fatalf("%s: encoding/json took the value", c.field)
		}
		var e jsonenc.Encoder
		appendSample(&e, nil, &s)
		if !errors.Is(e.Err, jsonenc.ErrUnsupported) || !strings.Contains(e.Err.Error(), c.field) {
			t.Errorf("%s: the generated encoder's error is %v", c.field, e.Err)
		}
	}
}

// What the generator cannot write as encoding/json would is an error naming the field, never
// code that writes something else.
func TestGeneratorRefuses(t *testing.T) {
	type (
		withMap    struct{ M map[string]int }
		withAny    struct{ A any }
		withBytes  struct{ B []byte }
		withString struct {
			N int `json:"n,string"`
		}
		onlyMarshal struct{ R json.RawMessage }
		withText    struct{ T textOnly }
		withAppend  struct{ A appendOnly }
	)
	for _, c := range []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[withMap](), "withMap.M"},
		{reflect.TypeFor[withAny](), "withAny.A"},
		{reflect.TypeFor[withBytes](), "withBytes.B"},
		{reflect.TypeFor[withString](), "withString.N"},
		{reflect.TypeFor[onlyMarshal](), "no AppendJSON"},
		{reflect.TypeFor[withText](), "TextMarshaler"},
		{reflect.TypeFor[withAppend](), "no MarshalJSON"},
	} {
		// The type under test as the one fact of a record.
		rt := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.PointerTo(c.typ), Tag: `json:"f,omitempty"`}})
		_, err := Generate(rt, "x", "appendX", "test")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.typ, err, c.want)
		}
	}
}

type textOnly struct{}

func (textOnly) MarshalText() ([]byte, error) { return nil, nil }

type appendOnly struct{}

func (appendOnly) AppendJSON(b []byte) []byte { return b }
