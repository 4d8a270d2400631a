package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// ui prints the demo's progress for humans: "==>" headers per step, and a
// progress line that rewrites itself on a terminal (and is printed at most
// once a second otherwise, e.g. when piped to a file).
type ui struct {
	tty      bool
	open     bool // a progress line is on screen without its newline
	lastLine time.Time
	cleanup  bool // the clean-up header was printed
}

// cleaning prints the clean-up header once.
func (u *ui) cleaning() {
	if !u.cleanup {
		u.cleanup = true
		u.step("Cleaning up")
	}
}

func newUI() *ui {
	st, err := os.Stdout.Stat()
	return &ui{tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

// step starts a new phase.
func (u *ui) step(format string, args ...any) {
	u.finish()
	fmt.Printf("\n==> "+format+"\n", args...)
}

// progress shows a transient status line.
func (u *ui) progress(format string, args ...any) {
	line := "    " + fmt.Sprintf(format, args...)
	if u.tty {
		fmt.Print("\r\033[K" + line)
		u.open = true
		return
	}
	if time.Since(u.lastLine) >= time.Second {
		fmt.Println(line)
		u.lastLine = time.Now()
	}
}

// done replaces the progress line with a final one.
func (u *ui) done(format string, args ...any) {
	u.finish()
	fmt.Printf("    "+format+"\n", args...)
	u.lastLine = time.Time{}
}

// info prints an indented line (cleanup messages and the like).
func (u *ui) info(format string, args ...any) {
	u.finish()
	fmt.Printf("    "+format+"\n", args...)
}

// plain prints a line as is.
func (u *ui) plain(format string, args ...any) {
	u.finish()
	fmt.Printf(format+"\n", args...)
}

// abort ends an open progress line, e.g. when interrupted.
func (u *ui) abort() { u.finish() }

func (u *ui) finish() {
	if u.open {
		fmt.Print("\r\033[K")
		u.open = false
	}
}

// nodegenProgress adapts nodegen's once-a-second "created N/M nodes (R
// nodes/s)" lines to the progress line; its final summary line is dropped
// because the demo prints its own.
type nodegenProgress struct {
	u     *ui
	label string
}

func (w nodegenProgress) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimSpace(string(p)), "\n") {
		if strings.Contains(line, "nodes/s") {
			w.u.progress("%s: %s", w.label, line)
		}
	}
	return len(p), nil
}
