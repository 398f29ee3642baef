package ldap

import "github.com/pcapaudit/pcapaudit/classify/internal/intern"

// interned is the table of the bind DNs, search bases and uncommon attribute names seen
// again and again across flows (a service account's DN, the directory's base): a flow that
// repeats one takes the shared string instead of allocating its own. It is bounded
// (intern.Slots values, at most maxDN bytes each: 256 KiB).
var interned intern.Table

// boundedShared is bounded for values that repeat across flows: see interned.
func boundedShared(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	return interned.String(b)
}
