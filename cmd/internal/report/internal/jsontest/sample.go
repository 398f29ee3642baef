package jsontest

import (
	"strconv"
	"time"
)

// Sample stands for flow.Record in the generator's own tests: its fields with a json tag name
// are what the generated root function writes, each as `,"name":value`.
type Sample struct {
	Untagged string  // the record's own fields, which the writer maps by hand: left out
	Leaves   *Leaves `json:"leaves,omitempty"`
	Shapes   Shapes  `json:"shapes"`
	Nil      *Leaves `json:"nil"` // null when nil
	Promoted *Outer  `json:"promoted,omitempty"`
	Leading  Leading `json:"leading"`
	Methods  Methods `json:"methods"`
	Hidden   *Leaves `json:"-"`
}

// Name is a named string type; Flag a named bool.
type (
	Name string
	Flag bool
)

// Leaves has a field of every scalar kind, each plain, omitempty and omitzero.
type Leaves struct {
	S    string    `json:"s"`
	N    Name      `json:"n"`
	B    bool      `json:"b"`
	F    Flag      `json:"f"`
	I    int       `json:"i"`
	I8   int8      `json:"i8"`
	I16  int16     `json:"i16"`
	I32  int32     `json:"i32"`
	I64  int64     `json:"i64"`
	U    uint      `json:"u"`
	U8   uint8     `json:"u8"`
	U16  uint16    `json:"u16"`
	U32  uint32    `json:"u32"`
	U64  uint64    `json:"u64"`
	UP   uintptr   `json:"up"`
	F32  float32   `json:"f32"`
	F64  float64   `json:"f64"`
	T    time.Time `json:"t"`
	SE   string    `json:"se,omitempty"`
	BE   bool      `json:"be,omitempty"`
	IE   int16     `json:"ie,omitempty"`
	UE   uint64    `json:"ue,omitempty"`
	FE   float64   `json:"fe,omitempty"`
	F32E float32   `json:"f32e,omitempty"`
	TE   time.Time `json:"te,omitempty"` // a struct is never empty
	SZ   string    `json:"sz,omitzero"`
	FZ   float64   `json:"fz,omitzero"`
	TZ   time.Time `json:"tz,omitzero"` // by Time.IsZero
	IEZ  int32     `json:"iez,omitempty,omitzero"`
	// Names: none (the Go name), "-," (the name "-"), HTML characters (not escaped), one
	// encoding/json refuses (the Go name instead), unexported (left out).
	NoTag      string
	Dash       string `json:"-,"`
	HTML       string `json:"a<b>&c"`
	BadName    string `json:"a'b"`
	unexported string
}

// Shapes has pointers, lists, arrays and nested structs, named and not.
type Shapes struct {
	PS   *string         `json:"ps"`
	PI   *int            `json:"pi,omitempty"`
	PB   *bool           `json:"pb,omitzero"`
	PT   *time.Time      `json:"pt"`
	PPS  **string        `json:"pps"`
	L    []int           `json:"l"`
	LE   []string        `json:"le,omitempty"`
	LZ   []string        `json:"lz,omitzero"`
	LL   [][]string      `json:"ll"`
	LP   []*Leaf         `json:"lp"`
	LS   []Leaf          `json:"ls,omitempty"`
	A    [3]uint8        `json:"a"`
	A0   [0]int          `json:"a0,omitempty"`
	AZ   [2]Leaf         `json:"az,omitzero"`
	Anon struct{ X int } `json:"anon"`
	SZ   Leaf            `json:"sz,omitzero"`   // comparable: == Leaf{}
	LZS  WithList        `json:"lzs,omitzero"`  // not comparable: field by field
	FZS  WithFloat       `json:"fzs,omitzero"`  // -0 is zero, as reflect.Value.IsZero says
	SE   Leaf            `json:"se,omitempty"`  // a struct is never empty
	PSZ  *Leaf           `json:"psz,omitzero"`  // nil is zero
	PSE  *WithList       `json:"pse,omitempty"` // nil is empty
}

// Leaf is a small comparable struct.
type Leaf struct {
	K string `json:"k"`
	V int    `json:"v,omitempty"`
}

// WithList is a struct that is not comparable.
type WithList struct {
	L []string `json:"l"`
	N int      `json:"n,omitempty"`
}

// WithFloat is a comparable struct with a float.
type WithFloat struct {
	F float64 `json:"f"`
}

// Outer embeds structs whose fields are promoted, with encoding/json's rules where names
// collide: the shallower field wins (Name), a tagged one among equals (Tie), none when still
// tied (Lost). The fields of the embedded pointer Tail are written where it stands, unless it
// is nil.
type Outer struct {
	Base
	Other
	Name string `json:"name"`
	*Tail
	Extra int  `json:"extra"`
	Named Base `json:"named"` // a tag name: not promoted
}

// Leading begins with the fields of an embedded pointer: after them, and when it is nil, the
// object may still be empty.
type Leading struct {
	*Tail
	After string `json:"after,omitempty"`
	Last  int    `json:"last"`
}

// Tail is embedded in Outer through a pointer.
type Tail struct {
	Rare  uint32 `json:"rare"`
	RareE []int  `json:"rare_e,omitempty"`
	Name  string `json:"name"` // hidden by Outer.Name
}

// Base is embedded in Outer.
type Base struct {
	Name  string `json:"name"` // hidden by Outer.Name
	Frame uint64 `json:"frame"`
	Tie   string // Other.T wins
	Lost  string
	Deep
}

// Other is embedded in Outer beside Base.
type Other struct {
	T    string `json:"Tie"` // tagged: wins over Base.Tie
	Lost string // tied with Base.Lost: both left out
	Only string `json:"only,omitempty"`
}

// Deep is embedded one level further down.
type Deep struct {
	Frame  uint64 `json:"frame"` // hidden by Base.Frame
	Bottom bool   `json:"bottom"`
}

// Methods has the types that write themselves and decide their own zero.
type Methods struct {
	N    Nanos      `json:"n"`
	NE   Nanos      `json:"ne,omitempty"` // omitempty goes by kind: 0 is empty
	NZ   Nanos      `json:"nz,omitzero"`  // omitzero asks IsZero
	PN   *Nanos     `json:"pn"`
	PNZ  *Nanos     `json:"pnz,omitzero"`
	LN   []Nanos    `json:"ln"`
	H    Hex        `json:"h"`
	PH   *Hex       `json:"ph"`
	LH   []Hex      `json:"lh"`
	W    Window     `json:"w,omitzero"` // a value method IsZero that is not the zero value
	PW   *Window    `json:"pw,omitzero"`
	AN   [2]Nanos   `json:"an"`
	Both BothNanos  `json:"both,omitzero"`
	PZ   PtrZero    `json:"pz,omitzero"` // IsZero on the pointer
	Time time.Time  `json:"time"`
	PTZ  *time.Time `json:"ptz,omitzero"`
}

// Nanos is a time kept as nanoseconds since 1970 UTC, written as time.Time writes it: the
// kind of compact type the AppendJSON contract is for.
type Nanos int64

// AppendJSON appends what MarshalJSON returns.
func (n Nanos) AppendJSON(b []byte) []byte {
	b = append(b, '"')
	b = time.Unix(0, int64(n)).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// MarshalJSON implements json.Marshaler.
func (n Nanos) MarshalJSON() ([]byte, error) { return n.AppendJSON(nil), nil }

// IsZero reports whether n is 0 or the zero time.Time's instant.
func (n Nanos) IsZero() bool { return n == 0 }

// BothNanos is Nanos with IsZero saying zero for negative values too.
type BothNanos int64

// AppendJSON appends what MarshalJSON returns.
func (n BothNanos) AppendJSON(b []byte) []byte { return strconv.AppendInt(b, int64(n), 10) }

// MarshalJSON implements json.Marshaler.
func (n BothNanos) MarshalJSON() ([]byte, error) { return n.AppendJSON(nil), nil }

// IsZero reports whether n is not after 1970.
func (n BothNanos) IsZero() bool { return n <= 0 }

// Hex writes itself with pointer methods, as a JSON string of hex digits.
type Hex struct{ B [4]byte }

// AppendJSON appends what MarshalJSON returns.
func (h *Hex) AppendJSON(b []byte) []byte {
	b = append(b, '"')
	for _, c := range h.B {
		b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
	}
	return append(b, '"')
}

// MarshalJSON implements json.Marshaler.
func (h *Hex) MarshalJSON() ([]byte, error) { return h.AppendJSON(nil), nil }

// Window is an interval whose IsZero says empty when it has no length, whatever its start.
type Window struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// IsZero reports whether w has no length.
func (w Window) IsZero() bool { return w.End <= w.Start }

// PtrZero has IsZero on its pointer.
type PtrZero struct {
	V int `json:"v"`
}

// IsZero reports whether V is even.
func (p *PtrZero) IsZero() bool { return p.V%2 == 0 }
