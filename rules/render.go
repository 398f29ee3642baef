package rules

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// The other expressions of a rule — message placeholders, evidence, threshold keys and
// weights — run only on a flow the rule matched, but on a busy capture that is still a
// finding for every other flow, and expr's VM boxes what it reads (a struct on the way to
// its field is copied to the heap). compileRender, compileEvent and compileWeight compile
// them the way compileFast compiles conditions: a renderer writes the value's text into the
// checker's buffer, exactly as format would write the value the VM computes, without making
// it first. What they do not cover runs on the VM as before; TestRenderAgreesWithVM holds
// the two to the same text, errors included, and checks that every expression of the
// default policy is compiled.

// renderFn appends the text of a value to dst: what appendFormat writes for the value
// expr's VM computes for the expression. A field read through a nil pointer panics with an
// evalError, as a compiled condition does.
type renderFn func(fr *frame, dst []byte) []byte

// eventFn reads the flow.Event an evidence expression names; ok is false when a pointer on
// the way to it is nil at its end (no event, no error, as eventIn says of the VM's value).
type eventFn func(fr *frame) (flow.Event, bool)

var (
	stringerType = reflect.TypeFor[fmt.Stringer]()
	durationType = reflect.TypeFor[time.Duration]()
	float64Type  = reflect.TypeFor[float64]()
	stringType   = reflect.TypeFor[string]()
	boolType     = reflect.TypeFor[bool]()
	intType      = reflect.TypeFor[int]()
	intsType     = reflect.TypeFor[[]int]()
)

// compileRender compiles a checked expression whose value is written as text (a message
// placeholder, a threshold key). it and lists are compileFast's. It returns nil when
// some part is not covered; the expression then runs on the VM.
func compileRender(n ast.Node, it reflect.Type, lists map[string][]string) (f renderFn) {
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	c := &fastCompiler{it: it, slots: new(int), lists: lists}
	return c.render(n)
}

// compileEvent compiles an evidence expression: a place whose value is an event, or a
// pointer to one, or a struct that holds one at path.
func compileEvent(n ast.Node, it reflect.Type, lists map[string][]string, path []int) (f eventFn) {
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	c := &fastCompiler{it: it, slots: new(int), lists: lists}
	if !isPlace(n) {
		giveUp("evidence %T", n)
	}
	p, t := c.place(n)
	var derefs int
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		derefs++
	}
	var off uintptr
	for _, i := range path {
		if t.Kind() != reflect.Struct {
			giveUp("event path through %s", t)
		}
		off += t.Field(i).Offset
		t = t.Field(i).Type
	}
	if t != eventType {
		giveUp("evidence of type %s", t)
	}
	return func(fr *frame) (flow.Event, bool) {
		q := p(fr)
		for range derefs {
			if q = *(*unsafe.Pointer)(q); q == nil {
				return flow.Event{}, false
			}
		}
		return *(*flow.Event)(unsafe.Add(q, off)), true
	}
}

// compileWeight compiles a threshold's weight, an integer expression (nil: on the VM).
func compileWeight(n ast.Node, it reflect.Type, lists map[string][]string) (f func(*frame) int64) {
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	if n.Type() == nil || !isInt(n.Type()) {
		return nil
	}
	c := &fastCompiler{it: it, slots: new(int), lists: lists}
	return c.integer(n)
}

// isAddr reports whether n is client.ip or server.ip, which are written from the record's
// address without making the string.
func isAddr(n ast.Node) (client, ok bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return false, false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok || !ok2 || prop.Value != "ip" || (id.Value != "client" && id.Value != "server") {
		return false, false
	}
	return id.Value == "client", true
}

func (c *fastCompiler) render(n ast.Node) renderFn {
	t := n.Type()
	if t == nil {
		giveUp("untyped value")
	}
	switch n := n.(type) {
	case *ast.ConditionalNode:
		// Each branch is written as its own type, as format writes the VM's value.
		cond, a, b := c.boolean(n.Cond), c.render(n.Exp1), c.render(n.Exp2)
		return func(fr *frame, dst []byte) []byte {
			if cond(fr) {
				return a(fr, dst)
			}
			return b(fr, dst)
		}
	case *ast.MemberNode:
		if client, ok := isAddr(n); ok {
			return func(fr *frame, dst []byte) []byte {
				if l := &fr.env.lazy; l.pending {
					if client {
						return appendIP(dst, l.client)
					}
					return appendIP(dst, l.server)
				}
				if client {
					return append(dst, fr.env.Client.IP...)
				}
				return append(dst, fr.env.Server.IP...)
			}
		}
	case *ast.BinaryNode:
		if n.Operator == "+" && n.Left.Type() == stringType && n.Right.Type() == stringType { // the VM adds only plain strings
			l, r := c.render(n.Left), c.render(n.Right)
			return func(fr *frame, dst []byte) []byte { return r(fr, l(fr, dst)) }
		}
	case *ast.BuiltinNode:
		if f := c.renderBuiltin(n); f != nil {
			return f
		}
	}
	switch {
	case t == stringType:
		s := c.str(n)
		return func(fr *frame, dst []byte) []byte { return append(dst, s(fr)...) }
	case t == boolType:
		b := c.boolean(n)
		return func(fr *frame, dst []byte) []byte { return strconv.AppendBool(dst, b(fr)) }
	case t == float64Type:
		x := c.float(n)
		return func(fr *frame, dst []byte) []byte { return appendFloat(dst, x(fr)) }
	case t == timeType:
		x := c.time(n)
		return func(fr *frame, dst []byte) []byte { return appendTime(dst, x(fr)) }
	case t == stringsType:
		l := c.strs(n)
		return func(fr *frame, dst []byte) []byte { return appendJoin(dst, l(fr), ", ") }
	case t == eventType && isPlace(n):
		p, _ := c.place(n)
		return func(fr *frame, dst []byte) []byte { return appendEvent(dst, (*flow.Event)(p(fr))) }
	case t == durationType || t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface:
		giveUp("a %s", t)
	case t.Implements(stringerType):
		if !isPlace(n) {
			giveUp("a %s that is not a field", t)
		}
		p, _ := c.place(n)
		return func(fr *frame, dst []byte) []byte {
			return append(dst, reflect.NewAt(t, p(fr)).Interface().(fmt.Stringer).String()...)
		}
	case isInt(t):
		return c.renderInt(n)
	case t.Kind() == reflect.String && isPlace(n): // a named string type: fmt.Sprint writes it as it is
		p, _ := c.place(n)
		return func(fr *frame, dst []byte) []byte { return append(dst, *(*string)(p(fr))...) }
	case t.Kind() == reflect.Bool && isPlace(n):
		p, _ := c.place(n)
		return func(fr *frame, dst []byte) []byte { return strconv.AppendBool(dst, *(*bool)(p(fr))) }
	case t.Kind() == reflect.Float32 && isPlace(n):
		p, _ := c.place(n)
		return func(fr *frame, dst []byte) []byte { return appendFloat(dst, float64(*(*float32)(p(fr)))) }
	case t == intsType && isPlace(n):
		p, _ := c.place(n)
		return func(fr *frame, dst []byte) []byte {
			for i, v := range *(*[]int)(p(fr)) {
				if i > 0 {
					dst = append(dst, ", "...)
				}
				dst = strconv.AppendInt(dst, int64(v), 10)
			}
			return dst
		}
	}
	giveUp("render %T of %s", n, t)
	return nil
}

// renderInt writes an integer in decimal. A field keeps its own type in the VM (an unsigned
// one is written unsigned); anything computed is an int.
func (c *fastCompiler) renderInt(n ast.Node) renderFn {
	t := n.Type()
	if isPlace(n) {
		p, _ := c.place(n)
		var u func(*frame) uint64
		switch t.Kind() {
		case reflect.Uint:
			u = func(fr *frame) uint64 { return uint64(*(*uint)(p(fr))) }
		case reflect.Uint8:
			u = func(fr *frame) uint64 { return uint64(*(*uint8)(p(fr))) }
		case reflect.Uint16:
			u = func(fr *frame) uint64 { return uint64(*(*uint16)(p(fr))) }
		case reflect.Uint32:
			u = func(fr *frame) uint64 { return uint64(*(*uint32)(p(fr))) }
		case reflect.Uint64:
			u = func(fr *frame) uint64 { return *(*uint64)(p(fr)) }
		}
		if u != nil {
			return func(fr *frame, dst []byte) []byte { return strconv.AppendUint(dst, u(fr), 10) }
		}
	} else if t.Kind() != reflect.Int {
		giveUp("a computed %s", t)
	}
	x := c.integer(n)
	return func(fr *frame, dst []byte) []byte { return strconv.AppendInt(dst, x(fr), 10) }
}

// renderBuiltin compiles upper, lower, join and string; nil for another builtin.
func (c *fastCompiler) renderBuiltin(n *ast.BuiltinNode) renderFn {
	switch {
	case (n.Name == "upper" || n.Name == "lower") && len(n.Arguments) == 1:
		s, up := c.str(n.Arguments[0]), n.Name == "upper"
		return func(fr *frame, dst []byte) []byte { return appendCase(dst, s(fr), up) }
	case n.Name == "join" && len(n.Arguments) >= 1 && len(n.Arguments) <= 2:
		sep := constant[string]("")
		if len(n.Arguments) == 2 {
			sep = c.str(n.Arguments[1])
		}
		if n.Arguments[0].Type() != stringsType {
			return c.joinMapped(n.Arguments[0], sep)
		}
		l := c.strs(n.Arguments[0])
		return func(fr *frame, dst []byte) []byte { return appendJoin(dst, l(fr), sep(fr)) }
	case n.Name == "string" && len(n.Arguments) == 1:
		// expr writes the value with fmt's %v: an integer in decimal, a string as it is.
		a := n.Arguments[0]
		if at := a.Type(); at == stringType || (at != nil && isInt(at) && !at.Implements(stringerType)) {
			return c.render(a)
		}
	}
	return nil
}

// joinMapped compiles join(map(list, body), sep) and join(map(filter(list, keep), body), sep)
// (which expr's optimizer writes as one filter with a map) over a list of structs: body, a
// string, is written for each element kept, with sep between them.
func (c *fastCompiler) joinMapped(x ast.Node, sep func(*frame) string) renderFn {
	b, ok := x.(*ast.BuiltinNode)
	if !ok || c.elem != nil || b.Threshold != nil || len(b.Arguments) != 2 {
		giveUp("join of %T", x)
	}
	pn, ok := b.Arguments[1].(*ast.PredicateNode)
	if !ok {
		giveUp("join of %s without a predicate", b.Name)
	}
	var src, keep, body ast.Node
	switch {
	case b.Name == "filter" && b.Map != nil:
		src, keep, body = b.Arguments[0], pn.Node, b.Map
	case b.Name == "map":
		src, body = b.Arguments[0], pn.Node
		if f, ok := src.(*ast.BuiltinNode); ok && f.Name == "filter" && f.Map == nil && f.Threshold == nil && len(f.Arguments) == 2 {
			fp, ok := f.Arguments[1].(*ast.PredicateNode)
			if !ok {
				giveUp("filter without a predicate")
			}
			src, keep = f.Arguments[0], fp.Node
		}
	default:
		giveUp("join of %s", b.Name)
	}
	lt := src.Type()
	if !isPlace(src) || lt.Kind() != reflect.Slice || body.Type() != stringType {
		giveUp("join over %s", lt)
	}
	inner := &fastCompiler{it: c.it, elem: lt.Elem(), slots: c.slots, lists: c.lists}
	var kept func(*frame) bool
	if keep != nil {
		kept = inner.boolean(keep)
	}
	text := inner.render(body)
	list, _ := c.place(src)
	stride := lt.Elem().Size()
	return func(fr *frame, dst []byte) []byte {
		l := *(*[]byte)(list(fr)) // every slice has the same header
		base, n := unsafe.Pointer(unsafe.SliceData(l)), len(l)
		s := sep(fr)
		k := 0
		for i := range n {
			fr.cur = unsafe.Add(base, uintptr(i)*stride)
			if kept != nil && !kept(fr) {
				continue
			}
			if k > 0 {
				dst = append(dst, s...)
			}
			dst = text(fr, dst)
			k++
		}
		fr.cur = nil
		return dst
	}
}

// appendFormat appends the text of a value for a message or a threshold key: a string as
// it is, numbers in decimal (floats with at most two decimals), a time in RFC 3339 (nothing
// for the zero time), lists joined with ", ", an event as its frame, anything with a String
// method through it.
func appendFormat(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return dst
	case string:
		return append(dst, x...)
	case bool:
		return strconv.AppendBool(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case float64:
		return appendFloat(dst, x)
	case time.Time:
		return appendTime(dst, x)
	case time.Duration:
		return append(dst, x.String()...)
	case []string:
		return appendJoin(dst, x, ", ")
	case flow.Event:
		return appendEvent(dst, &x)
	case fmt.Stringer:
		return append(dst, x.String()...)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return dst
		}
		return appendFormat(dst, rv.Elem().Interface())
	case reflect.Float32:
		return appendFloat(dst, rv.Float())
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendFormat(dst, rv.Index(i).Interface())
		}
		return dst
	}
	return fmt.Append(dst, v)
}

// appendFloat writes at most two decimals and no exponent: 12.35, 1000000, 0.5.
func appendFloat(dst []byte, x float64) []byte {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return strconv.AppendFloat(dst, x, 'f', -1, 64)
	}
	return strconv.AppendFloat(dst, math.Round(x*100)/100, 'f', -1, 64)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

func appendEvent(dst []byte, e *flow.Event) []byte {
	return strconv.AppendUint(append(dst, "frame "...), e.Frame, 10)
}

func appendJoin(dst []byte, l []string, sep string) []byte {
	for i, s := range l {
		if i > 0 {
			dst = append(dst, sep...)
		}
		dst = append(dst, s...)
	}
	return dst
}

// appendCase appends strings.ToUpper(s) (up) or strings.ToLower(s) without making it.
func appendCase(dst []byte, s string, up bool) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(s); i++ {
			b := s[i]
			switch {
			case up && 'a' <= b && b <= 'z':
				b -= 'a' - 'A'
			case !up && 'A' <= b && b <= 'Z':
				b += 'a' - 'A'
			}
			dst = append(dst, b)
		}
		return dst
	}
	// strings.Map's way: every rune mapped, an invalid byte written as U+FFFD.
	for _, r := range s {
		if up {
			r = unicode.ToUpper(r)
		} else {
			r = unicode.ToLower(r)
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// caseChanges reports whether appendCase would write something other than s: false for
// ASCII with nothing to change, the common case, which needs no copy.
func caseChanges(s string, up bool) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= utf8.RuneSelf || (up && 'a' <= b && b <= 'z') || (!up && 'A' <= b && b <= 'Z') {
			return true
		}
	}
	return false
}

// recase is upper(s) or lower(s) in a compiled condition: written into the frame's scratch
// slot k, which this expression alone uses, so the string is valid until the expression is
// evaluated again (a condition's values do not outlive its evaluation). Without scratch it
// makes the string.
func (fr *frame) recase(k int, s string, up bool) string {
	if !caseChanges(s, up) {
		return s
	}
	if fr.sc == nil {
		if up {
			return strings.ToUpper(s)
		}
		return strings.ToLower(s)
	}
	for len(*fr.sc) <= k {
		*fr.sc = append(*fr.sc, nil)
	}
	b := appendCase((*fr.sc)[k][:0], s, up)
	(*fr.sc)[k] = b
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendClean appends v made safe to print: control characters and invalid UTF-8 are
// escaped (no terminal escape sequence or line break reaches a report), and it is cut to
// maxValue bytes.
func appendClean(dst, v []byte) []byte {
	ok := len(v) <= maxValue
	for i := 0; ok && i < len(v); i++ {
		if b := v[i]; b < 0x20 || b == 0x7f || b >= 0x80 {
			ok = false
		}
	}
	if ok {
		return append(dst, v...)
	}
	start := len(dst)
	const hex = "0123456789abcdef"
	for i := 0; i < len(v); {
		if len(dst)-start >= maxValue {
			dst = append(dst, "…"...)
			break
		}
		r, size := utf8.DecodeRune(v[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, '\\', 'x', hex[v[i]>>4], hex[v[i]&15])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			q := len(dst)
			dst = strconv.AppendQuoteRuneToASCII(dst, r)
			n := copy(dst[q:], dst[q+1:len(dst)-1]) // without the quotes
			dst = dst[:q+n]
		default:
			dst = append(dst, v[i:i+size]...)
		}
		i += size
	}
	return dst
}
