package flow

import (
	"sync"
	"sync/atomic"
)

// names numbers strings for as long as the process runs, so that a record holds a small
// number instead of a string header (FileRef, Text). 0 is the empty string. Numbering a
// string takes a lock; reading one back does not (reporters do it for every record).
type names struct {
	mu   sync.RWMutex
	refs map[string]uint32
	all  atomic.Pointer[[]string] // by number; replaced, never changed, when one is added
	// limit, when not 0, bounds the strings numbered: past it, a new string gets the
	// number of over instead.
	limit int
	over  string
}

// ref returns the number of s, numbering it if it has none yet.
func (n *names) ref(s string) uint32 {
	if s == "" {
		return 0
	}
	n.mu.RLock()
	r, ok := n.refs[s]
	n.mu.RUnlock()
	if ok {
		return r
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.refs[s]; ok {
		return r
	}
	var all []string
	if p := n.all.Load(); p != nil {
		all = *p
	} else {
		all = []string{""}
		n.refs = map[string]uint32{}
	}
	if n.limit > 0 && len(all) >= n.limit {
		if r, ok := n.refs[n.over]; ok {
			return r
		}
		s = n.over // numbered below, once
	}
	r = uint32(len(all))
	all = append(all[:len(all):len(all)], s) // a new array: readers may hold the old one
	n.refs[s] = r
	n.all.Store(&all)
	return r
}

// name returns the string numbered r ("" for 0 or a number never given).
func (n *names) name(r uint32) string {
	if r == 0 {
		return ""
	}
	if p := n.all.Load(); p != nil && int(r) < len(*p) {
		return (*p)[r]
	}
	return ""
}

// Text is a short string that many records share, held in four bytes without a pointer: a
// number given to each string the first time it is asked for (see TextOf). Record.ParseError
// is one: every parse error is one of the detectors' constant error texts.
type Text uint32

// maxTexts bounds the Texts numbered, so that a detector that made its error texts from the
// packet (a bug) could not grow the table without end.
const maxTexts = 4096

var texts = names{limit: maxTexts, over: "(the text of this error was not kept: too many distinct error texts)"}

// TextOf returns the Text of s (0 for ""), numbering s if it has none yet. s should be one
// of a bounded set of strings (a package-level error's text): each is kept until the
// process ends, and past 4,096 of them a new one is given the Text of a fixed text that
// says so.
func TextOf(s string) Text { return Text(texts.ref(s)) }

// String returns the string t stands for ("" for 0).
func (t Text) String() string { return texts.name(uint32(t)) }
