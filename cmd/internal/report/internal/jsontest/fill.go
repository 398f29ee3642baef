// Package jsontest holds what the tests of the generated JSON encoders share: a Filler that
// sets every field of a value by reflection (so that a field added to a type is set too), and
// Sample, a type that has every shape the generator supports, for its own tests.
package jsontest

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"
)

// Strings are texts an encoder gets wrong first: quotes, backslashes, control characters,
// invalid UTF-8, line and paragraph separators, HTML, non-ASCII.
var Strings = []string{"", "plain", `a"quote`, `back\slash`, "tab\there", "nl\ncr\r", "nul\x00x", "\x1f\x7f",
	"\b\f", "bad\xffutf8\xc3", "\u2028\u2029", "<html>&amp;", "héllo wörld ✓", "\xed\xa0\x80", "\U0001F600",
	"long long long long long long long long long long long long long long long long long long"}

// Floats are the values whose form encoding/json chooses with care: signed zero, the edges
// of the exponent form (1e-6 and 1e21), subnormals, the largest finite values.
var Floats = []float64{0, math.Copysign(0, -1), 1, -1.5, 1e20, 1e21, -1e21, 1e-6, 9.99e-7, 123456789.125, 1 / 3.0,
	math.MaxFloat64, math.SmallestNonzeroFloat64, -math.MaxFloat32, math.MaxFloat32, 1e-45, 1e100, 0.1}

// Filler sets every exported field of a value. Plain mode gives each field a typical value
// (every string plain, every list two long, every pointer set); odd mode picks among the
// values in Strings and Floats, extreme integers, nil and empty lists, nil pointers, and
// times in other zones, without a fraction, and at the ends of the years JSON can hold.
type Filler struct {
	Rand *rand.Rand
	Odd  bool
}

// Fill sets v (settable) and what it points to.
func (f *Filler) Fill(v reflect.Value) {
	t := v.Type()
	if t == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(f.time()))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				f.Fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		if f.Odd && f.Rand.IntN(4) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(t.Elem())
		f.Fill(p.Elem())
		v.Set(p)
	case reflect.Slice:
		n := 2
		if f.Odd {
			switch f.Rand.IntN(4) {
			case 0:
				v.SetZero() // nil
				return
			case 1:
				v.Set(reflect.MakeSlice(t, 0, 1)) // empty, not nil
				return
			}
			n = 1 + f.Rand.IntN(3)
		}
		s := reflect.MakeSlice(t, n, n)
		for i := range n {
			f.Fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			f.Fill(v.Index(i))
		}
	case reflect.String:
		if f.Odd {
			v.SetString(Strings[f.Rand.IntN(len(Strings))])
		} else {
			v.SetString([]string{"REGISTER", "cn=admin,dc=example,dc=org", "sip:alice@127.0.0.1", "1.2"}[f.Rand.IntN(4)])
		}
	case reflect.Bool:
		v.SetBool(!f.Odd || f.Rand.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := int64(1 + f.Rand.IntN(100))
		if f.Odd {
			bits := t.Bits()
			x = []int64{0, -1, 1, -1 << (bits - 1), 1<<(bits-1) - 1, f.Rand.Int64() >> (64 - bits)}[f.Rand.IntN(6)]
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		x := uint64(1 + f.Rand.IntN(100))
		if f.Odd {
			bits := t.Bits()
			x = []uint64{0, 1, 1<<bits - 1, f.Rand.Uint64() >> (64 - bits)}[f.Rand.IntN(4)]
		}
		v.SetUint(x)
	case reflect.Float32, reflect.Float64:
		x := 0.015625 * float64(1+f.Rand.IntN(100))
		if f.Odd {
			x = Floats[f.Rand.IntN(len(Floats))]
			if f.Rand.IntN(4) == 0 {
				x = f.Rand.NormFloat64() * math.Pow(10, float64(f.Rand.IntN(60)-30))
			}
			if t.Kind() == reflect.Float32 && math.Abs(x) > math.MaxFloat32 {
				x = math.MaxFloat32
			}
		}
		v.SetFloat(x)
	default:
		panic("jsontest: no value for a " + t.String())
	}
}

func (f *Filler) time() time.Time {
	t := time.Unix(1_700_000_000+f.Rand.Int64N(1e6), f.Rand.Int64N(1e9)).UTC()
	if !f.Odd {
		return t
	}
	switch f.Rand.IntN(8) {
	case 0:
		return time.Time{}
	case 1:
		return t.In(time.FixedZone("x", -(3*3600 + 30*60)))
	case 2:
		return t.Truncate(time.Second) // no fraction
	case 3:
		return time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
	case 4:
		return time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC)
	case 5:
		return time.Unix(-1, 0).UTC() // before 1970
	case 6:
		return t.In(time.FixedZone("y", 14*3600))
	}
	return t
}

// Reference is what a generated root function must append for v (a pointer to a struct),
// made by encoding/json: `,"name":` and the encoder's bytes (HTML escaping off) for each field
// that has a json tag name, a nil pointer left out when the field is omitempty. It fails where
// encoding/json fails.
func Reference(v any) ([]byte, error) {
	rv := reflect.ValueOf(v).Elem()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	for i := range rv.NumField() {
		name, opts, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fv := rv.Field(i)
		if strings.Contains(opts, "omitempty") && fv.Kind() == reflect.Pointer && fv.IsNil() {
			continue
		}
		out.WriteString(`,"` + name + `":`)
		if err := enc.Encode(fv.Addr().Interface()); err != nil {
			return nil, err
		}
		out.Truncate(out.Len() - 1) // the encoder's newline
	}
	return out.Bytes(), nil
}
