package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pcapaudit/pcapaudit/classify/flow"
	"github.com/pcapaudit/pcapaudit/internal/corpustest"
	"github.com/pcapaudit/pcapaudit/rules"
)

// TestRecycledFactsChangeNoOutput: the audit gives a flow's protocol facts and its findings
// back to be reused once its last sink is done with them (flow.Record.ReleaseFacts,
// rules.ReleaseFinding). Any stage that still read them afterwards — a sink keeping a record,
// a finding, a list of theirs, or a pointer into them, a finding or a threshold window holding
// on to facts — would show garbage there, because with flow.PoisonReleasedFacts and
// rules.PoisonReleasedFindings every released value is filled with garbage before it is reused.
// So every output of every front end (the text report with a short --list, NDJSON, CSV, the
// HTML report, the pcapng of flagged flows, the summary in its three formats, the sensor's
// NDJSON with interim records) over the shipped captures and the public corpus must be byte
// for byte the same with and without the poison, with one worker and with two.
func TestRecycledFactsChangeNoOutput(t *testing.T) {
	groups := map[string][]string{}
	for _, c := range captures(t) {
		groups["shipped"] = append(groups["shipped"], strings.TrimPrefix(c, repo+"/"))
	}
	t.Chdir(repo) // the file names in the output are then relative, and the same in every run
	if corpus := corpusCaptures(t); len(corpus) > 0 {
		groups["corpus"] = corpus
	}
	tmp := t.TempDir()
	html, flagged := filepath.Join(tmp, "report.html"), filepath.Join(tmp, "flagged.pcapng")
	sensorOut := filepath.Join(tmp, "sensor.ndjson")
	runs := []struct {
		name  string
		args  []string
		files []string // written besides stdout
	}{
		{"text", []string{"--format", "text", "--color", "never", "--all", "--list", "3"}, nil},
		{"json", []string{"--format", "json", "--all"}, nil},
		{"csv+flagged", []string{"--format", "csv", "--write-flagged", flagged}, []string{flagged}},
		{"html", []string{"--format", "json", "--html", html}, []string{html}},
		{"summary-text", []string{"summary", "--all"}, nil},
		{"summary-json", []string{"summary", "--format", "json", "--all"}, nil},
		{"summary-csv", []string{"summary", "--format", "csv", "--all", "--html", html}, []string{html}},
	}
	for _, g := range []string{"shipped", "corpus"} {
		files := groups[g]
		if len(files) == 0 {
			continue
		}
		for _, r := range runs {
			for _, workers := range []string{"1", "2"} {
				args := append(append([]string{}, r.args...), "--workers", workers)
				args = append(args, files...)
				t.Run(g+"/"+r.name+"/workers="+workers, func(t *testing.T) {
					plain := auditOutputs(t, false, args, r.files)
					poisoned := auditOutputs(t, true, args, r.files)
					compareOutputs(t, plain, poisoned)
				})
			}
		}
		// The sensor reads each file through its live path, with interim records of the
		// flows open longer than a second: their facts are the open flow's and must not be
		// released.
		for _, f := range files {
			args := []string{"sensor", "--file", f, "--workers", "2", "--interim", "1s", "--hostname", "h",
				"--metrics-addr", "", "--suppress", "0", "-o", sensorOut}
			plain := auditOutputs(t, false, args, []string{sensorOut})
			poisoned := auditOutputs(t, true, args, []string{sensorOut})
			t.Run(g+"/sensor/"+filepath.Base(f), func(t *testing.T) { compareOutputs(t, plain, poisoned) })
		}
	}
}

// auditOutputs runs the command with the released facts poisoned or not and returns its
// stdout, stderr, exit code and the files it wrote, by name.
func auditOutputs(t *testing.T, poison bool, args, files []string) map[string][]byte {
	t.Helper()
	for _, f := range files {
		os.Remove(f)
	}
	flow.PoisonReleasedFacts(poison)
	defer flow.PoisonReleasedFacts(false)
	rules.PoisonReleasedFindings(poison)
	defer rules.PoisonReleasedFindings(false)
	r := runCmd(t, nil, args...)
	if r.code != 0 && r.code != 1 {
		t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
	}
	// The log lines on stderr carry the wall-clock time: leave it out.
	stderr := logTime.ReplaceAllString(r.stderr, `"time":"…"`)
	out := map[string][]byte{"stdout": []byte(r.stdout), "stderr": []byte(stderr), "exit": []byte(itoaN(r.code))}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

var logTime = regexp.MustCompile(`"time":"[^"]*"`)

func compareOutputs(t *testing.T, plain, poisoned map[string][]byte) {
	t.Helper()
	for name, want := range plain {
		got := poisoned[name]
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs when released facts and findings are poisoned (a stage read them after their release):\n%s",
				name, diff(string(want), string(got)))
		}
	}
}

// corpusCaptures lists the captures of the public corpus (none when it is absent), relative to
// the repository root.
func corpusCaptures(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(root, "MANIFEST.tsv")); err != nil {
		return nil
	}
	var out []string
	for _, row := range corpustest.Manifest(t, root) {
		if p := row[0]; !strings.HasSuffix(p, ".out") && row[5] != "-" {
			out = append(out, filepath.Join(root, filepath.FromSlash(p)))
		}
	}
	return out
}
