package chaos

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// echoServer answers each line it reads with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestTCPProxyCutsAndStalls(t *testing.T) {
	p, err := NewTCPProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip := func(msg string) (string, error) {
		if _, err := io.WriteString(c, msg+"\n"); err != nil {
			return "", err
		}
		return r.ReadString('\n')
	}
	if got, err := roundTrip("hello"); err != nil || got != "hello\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	// Stalled: nothing comes back before the stall ends, everything after.
	const stall = 300 * time.Millisecond
	p.Stall(stall)
	start := time.Now()
	if got, err := roundTrip("late"); err != nil || got != "late\n" {
		t.Fatalf("after the stall: %q, %v", got, err)
	}
	if waited := time.Since(start); waited < stall-50*time.Millisecond {
		t.Errorf("the reply came %v after the request, within a %v stall", waited, stall)
	}

	if n := p.CutAll(); n != 1 {
		t.Errorf("CutAll cut %d connections, want 1", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := roundTrip("cut"); err == nil {
		t.Error("a cut connection still answered")
	}
	// New connections work at once.
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := io.WriteString(c2, "again\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := bufio.NewReader(c2).ReadString('\n'); err != nil || got != "again\n" {
		t.Errorf("a new connection after the cut: %q, %v", got, err)
	}
}

// fakeAPI is an upstream that counts binds and streams one watch event.
func fakeAPI(t *testing.T, binds *atomic.Int32) *rest.Config {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/binding") {
			binds.Add(1)
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"kind":"Status","status":"Success"}`)
			return
		}
		_, _ = io.WriteString(w, "event\n")
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

func TestFaultProxyInjectsBindErrors(t *testing.T) {
	var binds atomic.Int32
	p, err := NewFaultProxy(fakeAPI(t, &binds))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := "https://" + p.ln.Addr().String() + "/api/v1/namespaces/ns/pods/p/binding"
	post := func() int {
		resp, err := hc.Post(url, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		fault     BindFault
		code      int
		forwarded bool
	}{
		{TooManyRequests, http.StatusTooManyRequests, false},
		{InternalError, http.StatusInternalServerError, false},
		{Conflict, http.StatusConflict, false},
		{LostResponse, http.StatusInternalServerError, true},
	} {
		before := binds.Load()
		p.SetBindFaults(1, tc.fault)
		if got := post(); got != tc.code {
			t.Errorf("%s: answered %d, want %d", tc.fault, got, tc.code)
		}
		if forwarded := binds.Load() > before; forwarded != tc.forwarded {
			t.Errorf("%s: forwarded = %v, want %v", tc.fault, forwarded, tc.forwarded)
		}
	}
	p.SetBindFaults(0)
	if got := post(); got != http.StatusCreated {
		t.Errorf("without faults: answered %d, want 201", got)
	}
	if got := p.Injected(); got[LostResponse] != 1 || got[Conflict] != 1 {
		t.Errorf("Injected() = %v", got)
	}
}

func TestFaultProxyDelaysWatches(t *testing.T) {
	var binds atomic.Int32
	p, err := NewFaultProxy(fakeAPI(t, &binds))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const delay = 300 * time.Millisecond
	p.DelayWatches(delay)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	start := time.Now()
	resp, err := hc.Get("https://" + p.ln.Addr().String() + "/api/v1/pods?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "event\n" {
		t.Fatalf("watch body %q, %v", body, err)
	}
	if waited := time.Since(start); waited < delay-50*time.Millisecond {
		t.Errorf("the event came after %v, within a %v delay", waited, delay)
	}
}
