package htmlreport_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/pcapaudit/pcapaudit/cmd/internal/audit"
	"github.com/pcapaudit/pcapaudit/cmd/internal/htmlreport"
	"github.com/pcapaudit/pcapaudit/cmd/internal/summary"
	"github.com/pcapaudit/pcapaudit/rules"
)

const realDir = "../../../testdata/real"

// auditReport audits the named captures of testdata/real through the pipeline with an
// aggregator as its sink, as the commands do, and returns the report.
func auditReport(t *testing.T, names ...string) *summary.Report {
	t.Helper()
	agg := summary.New(summary.Limits{Findings: 10_000})
	var rep *summary.Report
	agg.Output(func(r *summary.Report) error { rep = r; return nil })
	a := audit.New(audit.Options{Policy: rules.Default(), Workers: 2, Sinks: []audit.Sink{agg}, Log: zerolog.Nop()})
	for _, n := range names {
		if fs := a.File(context.Background(), filepath.Join(realDir, n), nil); fs.Err != "" {
			t.Fatal(fs.Err)
		}
	}
	if _, err := a.Close(); err != nil {
		t.Fatal(err)
	}
	return rep
}

// chromium returns the browser's path, or skips the test (CI installs the Debian package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (Debian package chromium)")
	return ""
}

// TestHTMLInBrowser opens the report of real captures in a headless Chromium: it loads
// with no console error and no network request, the timeline shows one bar per non-empty
// bucket whose counts add up to the flows and findings, and clicking a header sorts the
// findings table, typing in the filter box narrows it.
func TestHTMLInBrowser(t *testing.T) {
	bin := chromium(t)
	rep := auditReport(t, "ldap-simple-bind.pcap", "ldap-bind-failures.pcap", "sip-register-bruteforce.pcap",
		"ldaps-weak-server.pcap", "ntp-client.pcap", "sip-tls-5061.pcap")
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := htmlreport.Write(f, rep, rules.Default(), "pcapaudit test"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1400, 1000),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()

	url := "file://" + page
	// Start the browser and open the tab first, so that the listener sees every event of the
	// page from its first request on (chromedp enables the runtime, log and network domains).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request.URL != url {
				problems = append(problems, "network request: "+ev.Request.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console "+string(ev.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, "log: "+ev.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	run := func(a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	run(chromedp.Navigate(url))
	run(chromedp.WaitReady(chromedp.CSS("#findings-table tbody tr")))
	flowN := eval(`Array.from(document.querySelectorAll("svg#chart rect.bar-flows")).map(r => r.getAttribute("data-n"))`)
	findN := eval(`Array.from(document.querySelectorAll("svg#chart rect.bar-findings")).map(r => r.getAttribute("data-n"))`)
	shown := text("#shown")

	// The chart: one bar per bucket with flows (findings), adding up to the report's totals.
	wantBars := func(counts []uint64) int {
		n := 0
		for _, c := range counts {
			if c > 0 {
				n++
			}
		}
		return n
	}
	if len(flowN) == 0 || len(flowN) != wantBars(rep.Timeline.Flows) || sum(t, flowN) != rep.Flows {
		t.Errorf("chart: %d flow bars adding up to %d; want %d bars, %d flows", len(flowN), sum(t, flowN), wantBars(rep.Timeline.Flows), rep.Flows)
	}
	if len(findN) == 0 || len(findN) != wantBars(rep.Timeline.Findings) || sum(t, findN) != rep.Findings.Total() {
		t.Errorf("chart: %d finding bars adding up to %d; want %d bars, %d findings", len(findN), sum(t, findN), wantBars(rep.Timeline.Findings), rep.Findings.Total())
	}
	total := len(rep.FindingList)
	if total < 10 || shown != strconv.Itoa(total)+" of "+strconv.Itoa(total)+" shown" {
		t.Errorf("before filtering: %q, want all %d findings shown", shown, total)
	}

	// Sorting: a click on "Rule" sorts the rows by rule id, a second click reverses them; a
	// click on "Severity" puts the most severe last, then first.
	rulesShown := func() []string {
		return eval(`Array.from(document.querySelectorAll("#findings-table tbody tr")).filter(r => !r.hidden).map(r => r.cells[1].querySelector("b").textContent)`)
	}
	before := rulesShown()
	header := func(n int) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(`#findings-table thead th:nth-child(` + strconv.Itoa(n) + `)`))
	}
	run(header(2))
	asc := rulesShown()
	if !slices.IsSorted(asc) || slices.Equal(asc, before) || len(asc) != total {
		t.Errorf("after one click on Rule, rows are not sorted by rule (or did not move):\nbefore %v\nafter  %v", before, asc)
	}
	run(header(2))
	desc := rulesShown()
	if !slices.Equal(desc, reversed(asc)) && !slices.IsSortedFunc(desc, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("after a second click on Rule, rows are not in descending order: %v", desc)
	}
	var sevs []int
	sevOrder := func() {
		run(header(1))
		var err error
		sevs, err = chromedp.Run(ctx, chromedp.Evaluate[[]int](
			`Array.from(document.querySelectorAll("#findings-table tbody tr")).map(r => Number(r.cells[0].getAttribute("data-key")))`))
		if err != nil {
			t.Fatal(err)
		}
	}
	sevOrder()
	if !slices.IsSorted(sevs) || sevs[0] == sevs[len(sevs)-1] {
		t.Errorf("after a click on Severity: %v, want ascending", sevs)
	}
	sevOrder()
	if !slices.IsSortedFunc(sevs, func(a, b int) int { return b - a }) || sevs[0] != int(rules.Critical) {
		t.Errorf("after a second click on Severity: %v, want critical first", sevs)
	}

	// Filtering: typing a rule id leaves exactly that rule's findings.
	const rule = "ldap.cleartext-password"
	want := 0
	for _, f := range rep.FindingList {
		if f.Rule == rule {
			want++
		}
	}
	run(chromedp.SendKeys(chromedp.ID("filter"), rule))
	shown = text("#shown")
	got := rulesShown()
	if want == 0 || len(got) != want || shown != strconv.Itoa(want)+" of "+strconv.Itoa(total)+" shown" {
		t.Errorf("filter %q: %d rows shown (%q), want %d", rule, len(got), shown, want)
	}
	for _, id := range got {
		if id != rule {
			t.Errorf("filter %q shows a %s finding", rule, id)
		}
	}
	// A host in the per-host view filters the findings to the flows it took part in.
	const host = "127.0.0.3"
	want = 0
	for _, f := range rep.FindingList {
		if f.Client.Addr().String() == host || f.Server.Addr().String() == host {
			want++
		}
	}
	run(chromedp.Click(chromedp.JSPath(`Array.from(document.querySelectorAll("#hosts-table button.host")).filter(b => b.textContent == "` + host + `")`)))
	shown = text("#shown")
	if want == 0 || want == total || shown != strconv.Itoa(want)+" of "+strconv.Itoa(total)+" shown" {
		t.Errorf("after clicking host %s: %q, want %d of %d", host, shown, want, total)
	}
	eval(`document.getElementById("filter").value = "", document.getElementById("filter").dispatchEvent(new Event("input")), []`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 {
		t.Errorf("screenshot of %d bytes", len(png))
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	// PCAPAUDIT_SCREENSHOT=FILE.png keeps, for a person to look at, the top of the page as
	// it opens (FILE.png) and each section (FILE-findings.png, ...).
	if keep := os.Getenv("PCAPAUDIT_SCREENSHOT"); keep != "" {
		eval(`window.scrollTo(0, 0), []`)
		top, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keep, top, 0o644); err != nil {
			t.Error(err)
		}
		for _, id := range []string{"timeline", "findings", "hosts", "servers", "policy"} {
			eval(`document.getElementById("` + id + `").scrollIntoView(), []`)
			img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(strings.TrimSuffix(keep, ".png")+"-"+id+".png", img, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

func sum(t *testing.T, ns []string) uint64 {
	var s uint64
	for _, n := range ns {
		v, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			t.Fatalf("data-n %q", n)
		}
		s += v
	}
	return s
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
