package replay

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// LineProgress prints one plain line per finished delivery: for logs and pipes.
type LineProgress struct {
	W     io.Writer
	mu    sync.Mutex
	total int
	done  int
}

// Start implements Progress.
func (p *LineProgress) Start(total int) { p.total = total }

// Done implements Progress.
func (p *LineProgress) Done(r Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	width := len(fmt.Sprint(p.total))
	status := "ok  "
	detail := ""
	if !r.OK {
		status = "FAIL"
		detail = ": " + r.Reason
	}
	var last Attempt
	if len(r.Attempts) > 0 {
		last = r.Attempts[len(r.Attempts)-1]
	}
	retries := ""
	if n := len(r.Attempts) - 1; n > 0 {
		retries = fmt.Sprintf(" retries=%d", n)
	}
	fmt.Fprintf(p.W, "[%*d/%d] %s %s events=%d %s%s%s\n", width, p.done, p.total, status,
		r.Delivery.Body.Source, r.Delivery.Body.Events, roundLatency(last.Latency), retries, detail)
}

// Finish implements Progress.
func (p *LineProgress) Finish() {}

// BarProgress redraws one progress bar line on a terminal.
type BarProgress struct {
	W       io.Writer
	Width   int // bar cells (0: 30)
	mu      sync.Mutex
	total   int
	done    int
	failed  int
	retries int
}

// Start implements Progress.
func (p *BarProgress) Start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	p.draw()
}

// Done implements Progress.
func (p *BarProgress) Done(r Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if !r.OK {
		p.failed++
	}
	p.retries += max(len(r.Attempts)-1, 0)
	p.draw()
}

// Finish implements Progress: it ends the bar's line.
func (p *BarProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.W)
}

func (p *BarProgress) draw() {
	width := p.Width
	if width <= 0 {
		width = 30
	}
	filled := 0
	if p.total > 0 {
		filled = p.done * width / p.total
	}
	fmt.Fprintf(p.W, "\r\x1b[K[%s%s] %d/%d  failed %d  retries %d",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), p.done, p.total, p.failed, p.retries)
}
