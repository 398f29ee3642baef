// Command factsgen writes the NDJSON writer's encoder of the protocol facts
// (cmd/internal/report/facts_gen.go): Go code that appends each fact type of flow.Record as
// encoding/json marshals it, generated from the types so that the writer needs no reflection
// and allocates nothing at run time.
//
// It runs from go generate (`go generate ./cmd/internal/report/...`), which also writes the
// encoder of jsontest.Sample, a type with every shape the generator supports, that its tests
// compare with encoding/json. A test fails when either file in the repository is not what
// the types make of it.
//
// The generated code honours encoding/json's rules for the fields it meets: json tag names,
// omitempty (by kind), omitzero (an IsZero method, else the zero value), "-", embedded structs
// and pointers to structs (their fields promoted, the dominant field kept when names collide,
// those behind a nil embedded pointer left out), nil pointers and nil
// slices as null, and a type's own AppendJSON(dst []byte) []byte method, which must write what
// its MarshalJSON does. What it cannot write exactly as encoding/json would (maps, interfaces,
// []byte, the ",string" option, a MarshalJSON without AppendJSON, ...) is an error naming the
// field, not a guess.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"reflect"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/cmd/internal/report/internal/jsontest"
)

//go:generate go run . -sample -o sample_gen_test.go

func main() {
	out := flag.String("o", "facts_gen.go", "the file to write")
	sample := flag.Bool("sample", false, "write the encoder of jsontest.Sample, for the generator's own tests")
	flag.Parse()
	src, err := generate(*sample)
	if err != nil {
		fmt.Fprintln(os.Stderr, "factsgen:", err)
		os.Exit(1)
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, src) {
		return
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "factsgen:", err)
		os.Exit(1)
	}
}

// The generated files, from the directory of this package.
const (
	factsFile  = "../../facts_gen.go"
	sampleFile = "sample_gen_test.go"
)

// generate returns the encoder of the json-tagged fields of flow.Record (the protocol facts),
// or with sample those of jsontest.Sample.
func generate(sample bool) ([]byte, error) {
	if sample {
		return Generate(reflect.TypeFor[jsontest.Sample](), "main", "appendSample", "go run . -sample -o "+sampleFile)
	}
	return Generate(reflect.TypeFor[flow.Record](), "report", "appendRecordFacts", "go run ./internal/factsgen -o facts_gen.go")
}
