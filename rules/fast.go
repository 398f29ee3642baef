package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/pcapaudit/pcapaudit/classify/flow"
)

// A rule's condition runs once per flow of the rule's protocols, so on a busy capture the
// policy's conditions run millions of times. expr's VM reads every field through reflection
// and boxes every value it pushes (a string, a time, a struct on the way to its field): about
// a microsecond and several allocations per condition. compileFast turns the checked syntax
// tree of a condition into Go closures that read the fields at their offsets: the same
// language, parsed and type-checked by expr, evaluated without reflection or allocation.
//
// It covers what conditions are made of — fields, constants, comparisons, && || !, in,
// contains/startsWith/endsWith, arithmetic, lower/upper/len, any/all/none over a list of
// strings, isNil, the time methods IsZero/Before/After/Equal, the ?: operator — and gives
// up on anything else (optional chaining ?., map literals, other builtins and methods), in
// which case the rule runs on expr's VM as before. TestFastAgreesWithVM holds the two to the
// same results, errors included, and checks that every rule of the default policy compiles;
// FuzzFastAgreesWithVM does the same for any expression.

// frame is what a compiled condition reads: the flow's Env, the element of an each rule
// (`it`) and the list element a predicate looks at (`#`).
type frame struct {
	env *Env
	it  unsafe.Pointer
	cur unsafe.Pointer
	// vals are the strings a predicate's body needs but that do not depend on `#` (the
	// lower(sip.user_agent) of `any(lists.sip_scanners, lower(sip.user_agent) contains #)`):
	// computed once per list, where the body first needs one, not once per element. Bit k of
	// have says vals[k] is computed.
	vals [4]string
	have uint8
	// sc is the checker's scratch for upper and lower, one slot per call in an expression
	// (see recase); nil: they make their strings.
	sc *[][]byte
}

// fastCond is a compiled condition.
type fastCond func(*frame) bool

// evalError is the run-time error of a compiled condition (a field read through a nil
// pointer), raised as a panic and counted by the checker like the VM's errors.
type evalError string

func (e evalError) Error() string { return string(e) }

// unsupported is raised inside the compiler for a node it does not cover (why says which,
// for a reader of the code; the compiler only needs to know that it gave up).
type unsupported struct{ why string }

// compileFast compiles a checked `when` expression. it is the element type of an each rule
// (nil for a flow-level rule); lists are the policy's named lists (what lists.<name> reads:
// Env.Lists is always the policy's). It returns nil when some part of the expression is not
// covered; the rule then runs on the VM.
func compileFast(n ast.Node, it reflect.Type, lists map[string][]string) (f fastCond) {
	defer func() {
		// Anything the compiler trips on (unsupported, or a tree it did not expect) leaves
		// the condition to the VM: a policy never fails to load because of the compiler.
		if recover() != nil {
			f = nil
		}
	}()
	c := &fastCompiler{it: it, slots: new(int), lists: lists}
	return c.boolean(n)
}

type fastCompiler struct {
	it    reflect.Type           // type of `it`, nil outside an each rule
	elem  reflect.Type           // type of `#` inside a predicate, nil outside one
	hoist *[]func(*frame) string // inside a predicate: what frame.vals hold
	slots *int                   // scratch slots given out so far (see frame.recase)
	lists map[string][]string    // the policy's lists, read when compiling; nil: read from Env
}

// slot gives out the next scratch slot of the expression being compiled.
func (c *fastCompiler) slot() int {
	k := *c.slots
	*c.slots++
	return k
}

func giveUp(format string, a ...any) { panic(unsupported{fmt.Sprintf(format, a...)}) }

var (
	timeType    = reflect.TypeFor[time.Time]()
	stringsType = reflect.TypeFor[[]string]()
)

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func isFloat(t reflect.Type) bool {
	return t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64
}

func isNumber(t reflect.Type) bool { return isInt(t) || isFloat(t) }

// place compiles a node that names a value in memory — a field of Env, `it`, `#`, or a field
// of one of those — to a function returning its address, and returns its type. A field read
// through a nil pointer raises an evalError, as the VM's read does.
func (c *fastCompiler) place(n ast.Node) (func(*frame) unsafe.Pointer, reflect.Type) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if n.Value == "it" && c.it != nil {
			return func(fr *frame) unsafe.Pointer { return fr.it }, c.it
		}
		off, t := offsetOf(envType, n.Value)
		if n.Value == "client" || n.Value == "server" || n.Value == "tunnel" {
			// Their address strings are written when first read (see materialize).
			return func(fr *frame) unsafe.Pointer {
				materialize(fr.env)
				return unsafe.Add(unsafe.Pointer(fr.env), off)
			}, t
		}
		return func(fr *frame) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(fr.env), off) }, t
	case *ast.PointerNode:
		if n.Name != "" || c.elem == nil {
			giveUp("#%s", n.Name)
		}
		return func(fr *frame) unsafe.Pointer { return fr.cur }, c.elem
	case *ast.MemberNode:
		if n.Optional || n.Method {
			giveUp("optional or method member")
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			giveUp("computed member")
		}
		if id, ok := n.Node.(*ast.IdentifierNode); ok && (id.Value == "client" || id.Value == "server") && prop.Value != "ip" {
			// client.port and the like: no address string needed.
			base, bt := offsetOf(envType, id.Value)
			off, t := offsetOf(bt, prop.Value)
			return func(fr *frame) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(fr.env), base+off) }, t
		}
		base, bt := c.place(n.Node)
		switch bt.Kind() {
		case reflect.Struct:
			hops, t := fieldHops(bt, prop.Value)
			return follow(base, hops, n), t
		case reflect.Pointer:
			if bt.Elem().Kind() != reflect.Struct {
				giveUp("member of %s", bt)
			}
			msg := evalError(fmt.Sprintf("cannot read %s: %s is nil", n.String(), n.Node.String()))
			deref := func(fr *frame) unsafe.Pointer {
				p := *(*unsafe.Pointer)(base(fr))
				if p == nil {
					panic(msg)
				}
				return p
			}
			hops, t := fieldHops(bt.Elem(), prop.Value)
			return follow(deref, hops, n), t
		}
		giveUp("member of %s", bt)
	}
	giveUp("%T is not a place", n)
	return nil, nil
}

// offsetOf finds the field expr calls name in struct type t (through embedded structs, not
// through embedded pointers) and returns its offset from the start of t and its type.
func offsetOf(t reflect.Type, name string) (uintptr, reflect.Type) {
	hops, ft := fieldHops(t, name)
	if len(hops) > 1 {
		giveUp("embedded pointer on the way to %s", name)
	}
	return hops[0], ft
}

// fieldHops finds the field expr calls name in struct type t and returns the way to it: the
// offsets to add, with a pointer to follow between two of them when the way goes through an
// embedded pointer (a part of the facts kept out of line, such as flow.NTPRare), and its type.
// Without such a pointer there is one offset.
func fieldHops(t reflect.Type, name string) (hops []uintptr, ft reflect.Type) {
	path, ft, found := fieldPath(t, name)
	if !found {
		giveUp("no field %s in %s", name, t)
	}
	var off uintptr
	for k, i := range path {
		if t.Kind() == reflect.Pointer {
			hops = append(hops, off)
			off, t = 0, t.Elem()
		}
		f := t.Field(i)
		if !f.IsExported() {
			giveUp("unexported field %s", f.Name)
		}
		if f.Type.Kind() == reflect.Pointer && k < len(path)-1 && !f.Anonymous {
			giveUp("pointer on the way to %s", name)
		}
		off += f.Offset
		t = f.Type
	}
	return append(hops, off), ft
}

// follow returns the address of the field that hops (from fieldHops) lead to from the struct
// at base. A nil pointer on the way raises an evalError, as the VM's read fails.
func follow(base func(*frame) unsafe.Pointer, hops []uintptr, n *ast.MemberNode) func(*frame) unsafe.Pointer {
	switch len(hops) {
	case 1: // no pointer on the way
		off := hops[0]
		return func(fr *frame) unsafe.Pointer { return unsafe.Add(base(fr), off) }
	case 2: // one embedded pointer: the facts' parts
		msg := evalError(fmt.Sprintf("cannot read %s: a part of %s on the way is nil", n.String(), n.Node.String()))
		h0, h1 := hops[0], hops[1]
		return func(fr *frame) unsafe.Pointer {
			p := *(*unsafe.Pointer)(unsafe.Add(base(fr), h0))
			if p == nil {
				panic(msg)
			}
			return unsafe.Add(p, h1)
		}
	}
	msg := evalError(fmt.Sprintf("cannot read %s: a part of %s on the way is nil", n.String(), n.Node.String()))
	return func(fr *frame) unsafe.Pointer {
		p := base(fr)
		for _, h := range hops[:len(hops)-1] {
			if p = *(*unsafe.Pointer)(unsafe.Add(p, h)); p == nil {
				panic(msg)
			}
		}
		return unsafe.Add(p, hops[len(hops)-1])
	}
}

// isPlace reports whether n is compiled by place.
func isPlace(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IdentifierNode, *ast.PointerNode:
		return true
	case *ast.MemberNode:
		return !n.Optional && !n.Method && n.Node.Type().Kind() != reflect.Map
	}
	return false
}

func (c *fastCompiler) boolean(n ast.Node) func(*frame) bool {
	if t := n.Type(); t.Kind() != reflect.Bool {
		giveUp("%s is not a bool", t)
	}
	switch n := n.(type) {
	case *ast.BoolNode:
		return constant[bool](n.Value)
	case *ast.ConstantNode:
		return constant[bool](n.Value)
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			giveUp("unary %s", n.Operator)
		}
		x := c.boolean(n.Node)
		return func(fr *frame) bool { return !x(fr) }
	case *ast.BinaryNode:
		return c.binaryBool(n)
	case *ast.CallNode:
		return c.call(n)
	case *ast.BuiltinNode:
		return c.predicate(n)
	case *ast.ConditionalNode:
		return choose(c.boolean(n.Cond), c.boolean(n.Exp1), c.boolean(n.Exp2))
	}
	if isPlace(n) {
		p, _ := c.place(n)
		return load[bool](p)
	}
	giveUp("bool %T", n)
	return nil
}

func (c *fastCompiler) binaryBool(n *ast.BinaryNode) func(*frame) bool {
	switch n.Operator {
	case "&&", "and":
		l, r := c.boolean(n.Left), c.boolean(n.Right)
		return func(fr *frame) bool { return l(fr) && r(fr) }
	case "||", "or":
		l, r := c.boolean(n.Left), c.boolean(n.Right)
		return func(fr *frame) bool { return l(fr) || r(fr) }
	case "==", "!=":
		eq := c.equal(n.Left, n.Right)
		if n.Operator == "!=" {
			return func(fr *frame) bool { return !eq(fr) }
		}
		return eq
	case "<", "<=", ">", ">=":
		return c.order(n.Operator, n.Left, n.Right)
	case "in":
		return c.in(n.Left, n.Right)
	case "contains", "startsWith", "endsWith":
		l, r := c.str(n.Left), c.str(n.Right)
		switch n.Operator {
		case "contains":
			return func(fr *frame) bool { return strings.Contains(l(fr), r(fr)) }
		case "startsWith":
			return func(fr *frame) bool { return strings.HasPrefix(l(fr), r(fr)) }
		default:
			return func(fr *frame) bool { return strings.HasSuffix(l(fr), r(fr)) }
		}
	}
	giveUp("operator %s", n.Operator)
	return nil
}

// equal compiles a == b as expr's runtime.Equal decides it for the types at hand: numbers by
// value (an int and a float as floats), strings, bools, times by time.Time.Equal.
func (c *fastCompiler) equal(a, b ast.Node) func(*frame) bool {
	ta, tb := a.Type(), b.Type()
	switch {
	case isInt(ta) && isInt(tb):
		l, r := c.integer(a), c.integer(b)
		return func(fr *frame) bool { return l(fr) == r(fr) }
	case isNumber(ta) && isNumber(tb):
		l, r := c.float(a), c.float(b)
		return func(fr *frame) bool { return l(fr) == r(fr) }
	case ta.Kind() == reflect.String && tb.Kind() == reflect.String:
		l, r := c.str(a), c.str(b)
		return func(fr *frame) bool { return l(fr) == r(fr) }
	case ta.Kind() == reflect.Bool && tb.Kind() == reflect.Bool:
		l, r := c.boolean(a), c.boolean(b)
		return func(fr *frame) bool { return l(fr) == r(fr) }
	case ta == timeType && tb == timeType:
		l, r := c.time(a), c.time(b)
		return func(fr *frame) bool { return l(fr).Equal(r(fr)) }
	case ta.Kind() == reflect.Pointer && ta.Elem().Kind() == reflect.Bool && tb.Kind() == reflect.Bool && isPlace(a):
		// A *bool is dereferenced, and nil equals no bool: what the VM's deref does.
		p, _ := c.place(a)
		r := c.boolean(b)
		return func(fr *frame) bool {
			q := *(*unsafe.Pointer)(p(fr))
			return q != nil && *(*bool)(q) == r(fr)
		}
	case tb.Kind() == reflect.Pointer && tb.Elem().Kind() == reflect.Bool && ta.Kind() == reflect.Bool && isPlace(b):
		return c.equal(b, a) // the case above, turned round
	case isNilNode(b) && isPlace(a) && hasNil(ta):
		// A nil slice, map or pointer equals nil; an empty slice does not.
		p, _ := c.place(a)
		return func(fr *frame) bool { return *(*unsafe.Pointer)(p(fr)) == nil }
	case isNilNode(a) && isPlace(b) && hasNil(tb):
		return c.equal(b, a) // the case above, turned round
	}
	giveUp("%s == %s", ta, tb)
	return nil
}

func (c *fastCompiler) order(op string, a, b ast.Node) func(*frame) bool {
	ta, tb := a.Type(), b.Type()
	switch {
	case isInt(ta) && isInt(tb):
		return ordered(op, c.integer(a), c.integer(b))
	case isNumber(ta) && isNumber(tb):
		return ordered(op, c.float(a), c.float(b))
	case ta.Kind() == reflect.String && tb.Kind() == reflect.String:
		return ordered(op, c.str(a), c.str(b))
	case ta == timeType && tb == timeType:
		l, r := c.time(a), c.time(b)
		switch op {
		case "<":
			return func(fr *frame) bool { return l(fr).Before(r(fr)) }
		case ">":
			return func(fr *frame) bool { return l(fr).After(r(fr)) }
		case "<=":
			return func(fr *frame) bool { return !l(fr).After(r(fr)) }
		default:
			return func(fr *frame) bool { return !l(fr).Before(r(fr)) }
		}
	}
	giveUp("%s %s %s", ta, op, tb)
	return nil
}

// usesElem reports whether n reads `#`.
func usesElem(n ast.Node) bool {
	v := &elemFinder{}
	ast.Walk(&n, v)
	return v.found
}

type elemFinder struct{ found bool }

func (v *elemFinder) Visit(n *ast.Node) {
	if _, ok := (*n).(*ast.PointerNode); ok {
		v.found = true
	}
}

func isNilNode(n ast.Node) bool { _, ok := n.(*ast.NilNode); return ok }

// hasNil reports whether values of t are nil by their first word: a pointer, a map or a
// slice (its data pointer).
func hasNil(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		return true
	}
	return false
}

// load reads the value of type T at the address p gives.
func load[T any](p func(*frame) unsafe.Pointer) func(*frame) T {
	return func(fr *frame) T { return *(*T)(p(fr)) }
}

// widen reads the integer of type T at the address p gives, as an int64 (expr computes
// with ints; a uint64 above the int64 range wraps, as it does in expr).
func widen[T int | int8 | int16 | int32 | int64 | uint | uint8 | uint16 | uint32 | uint64](p func(*frame) unsafe.Pointer) func(*frame) int64 {
	return func(fr *frame) int64 { return int64(*(*T)(p(fr))) }
}

// constant compiles a constant of type T.
func constant[T any](v any) func(*frame) T {
	x, ok := v.(T)
	if !ok {
		giveUp("constant %T", v)
	}
	return func(*frame) T { return x }
}

// choose compiles cond ? a : b.
func choose[T any](cond func(*frame) bool, a, b func(*frame) T) func(*frame) T {
	return func(fr *frame) T {
		if cond(fr) {
			return a(fr)
		}
		return b(fr)
	}
}

func ordered[T int64 | float64 | string](op string, l, r func(*frame) T) func(*frame) bool {
	switch op {
	case "<":
		return func(fr *frame) bool { return l(fr) < r(fr) }
	case "<=":
		return func(fr *frame) bool { return l(fr) <= r(fr) }
	case ">":
		return func(fr *frame) bool { return l(fr) > r(fr) }
	default:
		return func(fr *frame) bool { return l(fr) >= r(fr) }
	}
}

// in compiles `x in list`: a constant list (expr's optimizer makes one of an array literal:
// a set of strings, or a slice of values) or a list of strings (lists.x, a []string field).
func (c *fastCompiler) in(a, b ast.Node) func(*frame) bool {
	ta := a.Type()
	if k, ok := b.(*ast.ConstantNode); ok {
		switch set := k.Value.(type) {
		case map[string]struct{}:
			if ta.Kind() != reflect.String {
				giveUp("%s in a set of strings", ta)
			}
			x := c.str(a)
			return func(fr *frame) bool { _, ok := set[x(fr)]; return ok }
		case map[int]struct{}: // made only for a left side of type int
			if ta.Kind() != reflect.Int {
				giveUp("%s in a set of ints", ta)
			}
			x := c.integer(a)
			return func(fr *frame) bool { _, ok := set[int(x(fr))]; return ok }
		case []any:
			return c.inValues(a, set)
		}
		giveUp("in constant %T", k.Value)
	}
	if ta.Kind() == reflect.String && b.Type() == stringsType {
		x, list := c.str(a), c.strs(b)
		return func(fr *frame) bool { return slices.Contains(list(fr), x(fr)) }
	}
	if tb := b.Type(); isInt(ta) && tb.Kind() == reflect.Slice && tb.Elem().Kind() == reflect.Int && isPlace(b) {
		x := c.integer(a)
		p, _ := c.place(b)
		return func(fr *frame) bool { return slices.Contains(*(*[]int)(p(fr)), int(x(fr))) }
	}
	giveUp("%s in %s", ta, b.Type())
	return nil
}

// inValues compiles `x in [v, ...]` for an array of numbers or of strings.
func (c *fastCompiler) inValues(a ast.Node, vs []any) func(*frame) bool {
	ta := a.Type()
	switch {
	case isNumber(ta):
		fs := make([]float64, 0, len(vs))
		is := make([]int64, 0, len(vs))
		for _, v := range vs {
			switch v := v.(type) {
			case int:
				fs, is = append(fs, float64(v)), append(is, int64(v))
			case float64:
				fs = append(fs, v)
			default:
				giveUp("number in an array of %T", v)
			}
		}
		if isInt(ta) && len(is) == len(vs) {
			x := c.integer(a)
			return func(fr *frame) bool { return slices.Contains(is, x(fr)) }
		}
		x := c.float(a)
		return func(fr *frame) bool { return slices.Contains(fs, x(fr)) }
	case ta.Kind() == reflect.String:
		ss := make([]string, 0, len(vs))
		for _, v := range vs {
			s, ok := v.(string)
			if !ok {
				giveUp("string in an array of %T", v)
			}
			ss = append(ss, s)
		}
		x := c.str(a)
		return func(fr *frame) bool { return slices.Contains(ss, x(fr)) }
	}
	giveUp("%s in an array", ta)
	return nil
}

// call compiles isNil(x) (written by the loader for x == nil and x != nil on a pointer) and
// the time methods IsZero, Before, After and Equal.
func (c *fastCompiler) call(n *ast.CallNode) func(*frame) bool {
	switch callee := n.Callee.(type) {
	case *ast.IdentifierNode:
		if callee.Value != "isNil" || len(n.Arguments) != 1 || !isPlace(n.Arguments[0]) {
			giveUp("call of %s", callee.Value)
		}
		p, t := c.place(n.Arguments[0])
		if t.Kind() != reflect.Pointer {
			giveUp("isNil of %s", t)
		}
		return func(fr *frame) bool { return *(*unsafe.Pointer)(p(fr)) == nil }
	case *ast.MemberNode:
		prop, ok := callee.Property.(*ast.StringNode)
		if !ok || !callee.Method || callee.Optional || callee.Node.Type() != timeType {
			giveUp("method call")
		}
		recv := c.time(callee.Node)
		switch {
		case prop.Value == "IsZero" && len(n.Arguments) == 0:
			return func(fr *frame) bool { return recv(fr).IsZero() }
		case len(n.Arguments) == 1 && n.Arguments[0].Type() == timeType:
			arg := c.time(n.Arguments[0])
			switch prop.Value {
			case "Before":
				return func(fr *frame) bool { return recv(fr).Before(arg(fr)) }
			case "After":
				return func(fr *frame) bool { return recv(fr).After(arg(fr)) }
			case "Equal":
				return func(fr *frame) bool { return recv(fr).Equal(arg(fr)) }
			}
		}
		giveUp("time method %s", prop.Value)
	}
	giveUp("call")
	return nil
}

// predicate compiles any, all and none over a list of strings.
func (c *fastCompiler) predicate(n *ast.BuiltinNode) func(*frame) bool {
	if len(n.Arguments) != 2 || n.Map != nil {
		giveUp("builtin %s", n.Name)
	}
	pn, ok := n.Arguments[1].(*ast.PredicateNode)
	if !ok || c.elem != nil {
		giveUp("builtin %s", n.Name)
	}
	list := c.strs(n.Arguments[0])
	var hoist []func(*frame) string
	inner := &fastCompiler{it: c.it, elem: reflect.TypeFor[string](), hoist: &hoist, slots: c.slots, lists: c.lists}
	pred := inner.boolean(pn.Node)
	var want, found bool // any: stop at the first true; all: at the first false; none: at the first true
	switch n.Name {
	case "any":
		want, found = true, true
	case "all":
		want, found = false, false
	case "none":
		want, found = true, false
	default:
		giveUp("builtin %s", n.Name)
	}
	return func(fr *frame) bool {
		l := list(fr)
		fr.have = 0
		for i := range l {
			fr.cur = unsafe.Pointer(&l[i])
			if pred(fr) == want {
				fr.cur = nil
				return found
			}
		}
		fr.cur = nil
		return !found
	}
}

func (c *fastCompiler) integer(n ast.Node) func(*frame) int64 {
	t := n.Type()
	if !isInt(t) {
		giveUp("%s is not an integer", t)
	}
	switch n := n.(type) {
	case *ast.IntegerNode:
		return constant[int64](int64(n.Value))
	case *ast.ConstantNode:
		v, ok := n.Value.(int)
		if !ok {
			giveUp("constant %T", n.Value)
		}
		return constant[int64](int64(v))
	case *ast.UnaryNode:
		if k := n.Node.Type().Kind(); n.Operator == "-" && k != reflect.Int && k != reflect.Int64 {
			// expr negates a value in its own type: -int8(-128) stays -128, an unsigned
			// value wraps in its width.
			giveUp("unary - of a %s", n.Node.Type())
		}
		x := c.integer(n.Node)
		switch n.Operator {
		case "-":
			return func(fr *frame) int64 { return -x(fr) }
		case "+":
			return x
		}
	case *ast.BinaryNode:
		l, r := c.integer(n.Left), c.integer(n.Right)
		switch n.Operator {
		case "+":
			return func(fr *frame) int64 { return l(fr) + r(fr) }
		case "-":
			return func(fr *frame) int64 { return l(fr) - r(fr) }
		case "*":
			return func(fr *frame) int64 { return l(fr) * r(fr) }
		}
	case *ast.BuiltinNode:
		if n.Name == "int" && len(n.Arguments) == 1 && isInt(n.Arguments[0].Type()) {
			return c.integer(n.Arguments[0]) // int() of an integer: the same value, as an int
		}
		if n.Name == "len" && len(n.Arguments) == 1 {
			switch a := n.Arguments[0]; {
			case a.Type().Kind() == reflect.String:
				s := c.str(a) // expr's len of a string counts its runes
				return func(fr *frame) int64 { return int64(utf8.RuneCountInString(s(fr))) }
			case a.Type().Kind() == reflect.Slice && isPlace(a):
				p, _ := c.place(a)
				// Every slice has the same header: its length is that of a []byte view.
				return func(fr *frame) int64 { return int64(len(*(*[]byte)(p(fr)))) }
			}
		}
	case *ast.ConditionalNode:
		return choose(c.boolean(n.Cond), c.integer(n.Exp1), c.integer(n.Exp2))
	}
	if isPlace(n) {
		p, _ := c.place(n)
		switch t.Kind() {
		case reflect.Int:
			return widen[int](p)
		case reflect.Int8:
			return widen[int8](p)
		case reflect.Int16:
			return widen[int16](p)
		case reflect.Int32:
			return widen[int32](p)
		case reflect.Int64:
			return widen[int64](p)
		case reflect.Uint:
			return widen[uint](p)
		case reflect.Uint8:
			return widen[uint8](p)
		case reflect.Uint16:
			return widen[uint16](p)
		case reflect.Uint32:
			return widen[uint32](p)
		case reflect.Uint64:
			return widen[uint64](p)
		}
	}
	giveUp("integer %T", n)
	return nil
}

// float compiles a number as a float64 (an integer is converted, as expr does when it mixes
// the two). The quotient a / b is always a float in expr.
func (c *fastCompiler) float(n ast.Node) func(*frame) float64 {
	t := n.Type()
	if k := t.Kind(); k == reflect.Uint64 || k == reflect.Uint {
		// expr makes a float of the unsigned value itself (2^64-1 stays positive), where
		// integer arithmetic converts to int first.
		if !isPlace(n) {
			giveUp("a %s as a float", t)
		}
		p, _ := c.place(n)
		if k == reflect.Uint {
			return func(fr *frame) float64 { return float64(*(*uint)(p(fr))) }
		}
		return func(fr *frame) float64 { return float64(*(*uint64)(p(fr))) }
	}
	if isInt(t) {
		x := c.integer(n)
		return func(fr *frame) float64 { return float64(x(fr)) }
	}
	if !isFloat(t) {
		giveUp("%s is not a number", t)
	}
	switch n := n.(type) {
	case *ast.FloatNode:
		return constant[float64](n.Value)
	case *ast.ConstantNode:
		return constant[float64](n.Value)
	case *ast.UnaryNode:
		x := c.float(n.Node)
		switch n.Operator {
		case "-":
			return func(fr *frame) float64 { return -x(fr) }
		case "+":
			return x
		}
	case *ast.BinaryNode:
		if !isNumber(n.Left.Type()) || !isNumber(n.Right.Type()) {
			giveUp("float operands")
		}
		l, r := c.float(n.Left), c.float(n.Right)
		switch n.Operator {
		case "+":
			return func(fr *frame) float64 { return l(fr) + r(fr) }
		case "-":
			return func(fr *frame) float64 { return l(fr) - r(fr) }
		case "*":
			return func(fr *frame) float64 { return l(fr) * r(fr) }
		case "/":
			return func(fr *frame) float64 { return l(fr) / r(fr) }
		}
	case *ast.ConditionalNode:
		return choose(c.boolean(n.Cond), c.float(n.Exp1), c.float(n.Exp2))
	}
	if isPlace(n) {
		p, _ := c.place(n)
		if t.Kind() == reflect.Float32 {
			return func(fr *frame) float64 { return float64(*(*float32)(p(fr))) }
		}
		return load[float64](p)
	}
	giveUp("float %T", n)
	return nil
}

func (c *fastCompiler) str(n ast.Node) func(*frame) string {
	if t := n.Type(); t.Kind() != reflect.String {
		giveUp("%s is not a string", t)
	}
	if c.hoist != nil && len(*c.hoist) < len(frame{}.vals) && !isPlace(n) && !usesElem(n) {
		if _, ok := n.(*ast.BuiltinNode); ok { // lower, upper, trim: they allocate
			f := (&fastCompiler{it: c.it, slots: c.slots, lists: c.lists}).str(n)
			k := len(*c.hoist)
			*c.hoist = append(*c.hoist, f)
			bit := uint8(1) << k
			// Computed where the VM would first compute it (not before a short-circuit that
			// skips it), then reused: the same value, or the same error, each time.
			return func(fr *frame) string {
				if fr.have&bit == 0 {
					fr.vals[k] = f(fr)
					fr.have |= bit
				}
				return fr.vals[k]
			}
		}
	}
	switch n := n.(type) {
	case *ast.StringNode:
		return constant[string](n.Value)
	case *ast.ConstantNode:
		return constant[string](n.Value)
	case *ast.BinaryNode:
		if n.Operator == "+" && n.Left.Type() == stringType && n.Right.Type() == stringType { // the VM adds only plain strings
			l, r := c.str(n.Left), c.str(n.Right)
			return func(fr *frame) string { return l(fr) + r(fr) }
		}
	case *ast.BuiltinNode:
		if len(n.Arguments) == 1 {
			x := c.str(n.Arguments[0])
			switch n.Name {
			case "lower":
				k := c.slot()
				return func(fr *frame) string { return fr.recase(k, x(fr), false) }
			case "upper":
				k := c.slot()
				return func(fr *frame) string { return fr.recase(k, x(fr), true) }
			case "trim":
				return func(fr *frame) string { return strings.TrimSpace(x(fr)) }
			}
		}
	case *ast.ConditionalNode:
		return choose(c.boolean(n.Cond), c.str(n.Exp1), c.str(n.Exp2))
	}
	if isPlace(n) {
		p, _ := c.place(n)
		return load[string](p)
	}
	giveUp("string %T", n)
	return nil
}

func (c *fastCompiler) time(n ast.Node) func(*frame) time.Time {
	if ft := factTime(n); ft != nil && isPlace(ft) { // a flow.Time or Date of the facts, as a time.Time
		p, t := c.place(ft)
		if t == flowDateType {
			return func(fr *frame) time.Time { return (*(*flow.Date)(p(fr))).Time() }
		}
		return func(fr *frame) time.Time { return (*(*flow.Time)(p(fr))).Time() }
	}
	if n.Type() != timeType || !isPlace(n) {
		giveUp("time %T", n)
	}
	p, _ := c.place(n)
	return load[time.Time](p)
}

// strs compiles a list of strings: lists.name (a map entry) or a []string field.
func (c *fastCompiler) strs(n ast.Node) func(*frame) []string {
	if n.Type() != stringsType {
		giveUp("%s is not a list of strings", n.Type())
	}
	if m, ok := n.(*ast.MemberNode); ok && !m.Optional && !m.Method && m.Node.Type().Kind() == reflect.Map {
		key, ok := m.Property.(*ast.StringNode)
		if !ok || m.Node.Type() != reflect.TypeFor[map[string][]string]() || !isPlace(m.Node) {
			giveUp("list lookup")
		}
		k := key.Value
		if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "lists" && c.lists != nil {
			// Env.Lists is the policy's: the list is known now, no lookup per evaluation.
			l := c.lists[k]
			return func(*frame) []string { return l }
		}
		p, _ := c.place(m.Node)
		return func(fr *frame) []string { return (*(*map[string][]string)(p(fr)))[k] }
	}
	if !isPlace(n) {
		giveUp("list %T", n)
	}
	p, _ := c.place(n)
	return load[[]string](p)
}
