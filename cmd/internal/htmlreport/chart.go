package htmlreport

import (
	"fmt"
	"time"

	"github.com/pcapaudit/pcapaudit/cmd/internal/summary"
)

// Chart geometry, in SVG user units (the SVG scales to the page width).
const (
	chartW, chartH = 960, 180
	padL, padR     = 48, 12
	padT, padB     = 12, 36
)

// chart is the timeline drawn as bars: per bucket, one bar for the flows that started in it
// and a narrower one for the findings whose evidence falls in it, on one scale.
type chart struct {
	W, H, PlotX, PlotY, PlotW, PlotH float64
	Bottom                           float64
	Max                              uint64
	Flows, Findings                  []bar
	Ticks                            []tick
	Width                            string // the width of a bucket, for a person
	Empty                            bool
}

type bar struct {
	X, Y, W, H float64
	N          uint64
	Title      string
}

type tick struct {
	X     float64
	Label string
}

func newChart(t summary.Timeline) chart {
	c := chart{W: chartW, H: chartH, PlotX: padL, PlotY: padT, PlotW: chartW - padL - padR, PlotH: chartH - padT - padB}
	c.Bottom = c.PlotY + c.PlotH
	n := len(t.Flows)
	if n == 0 {
		c.Empty = true
		return c
	}
	for i := range n {
		c.Max = max(c.Max, t.Flows[i], t.Findings[i])
	}
	slot := c.PlotW / float64(n)
	layout := "15:04:05"
	if t.Width < time.Second {
		layout = "15:04:05.000"
	}
	if span := t.Width * time.Duration(n); span > 24*time.Hour {
		layout = "01-02 15:04"
	}
	c.Width = widthName(t.Width)
	for i := range n {
		from := t.Start.Add(time.Duration(i) * t.Width)
		span := from.UTC().Format(layout) + " – " + from.Add(t.Width).UTC().Format(layout)
		x := c.PlotX + float64(i)*slot
		if v := t.Flows[i]; v > 0 {
			h := c.PlotH * float64(v) / float64(c.Max)
			c.Flows = append(c.Flows, bar{X: x + slot*0.1, Y: c.Bottom - h, W: slot * 0.8, H: h, N: v,
				Title: fmt.Sprintf("%s: %d flow(s)", span, v)})
		}
		if v := t.Findings[i]; v > 0 {
			h := c.PlotH * float64(v) / float64(c.Max)
			c.Findings = append(c.Findings, bar{X: x + slot*0.3, Y: c.Bottom - h, W: slot * 0.4, H: h, N: v,
				Title: fmt.Sprintf("%s: %d finding(s)", span, v)})
		}
	}
	// Up to six labels along the time axis, at bucket edges.
	step := max(1, n/5)
	for i := 0; i <= n; i += step {
		c.Ticks = append(c.Ticks, tick{X: c.PlotX + float64(i)*slot, Label: t.Start.Add(time.Duration(i) * t.Width).UTC().Format(layout)})
	}
	return c
}

// widthName says a bucket width in words ("10 seconds", "200 ms", "1 hour").
func widthName(d time.Duration) string {
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	for _, u := range units {
		if d >= u.d && d%u.d == 0 {
			if n := d / u.d; n > 1 {
				return fmt.Sprintf("%d %ss", n, u.name)
			}
			return u.name
		}
	}
	return d.String()
}
