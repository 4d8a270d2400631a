package chaos

import (
	"net"
	"sync"
	"time"
)

// TCPProxy forwards loopback TCP connections to an API server without
// looking inside them (TLS passes through: the server's certificate is
// valid for 127.0.0.1 whatever the port), so that a client pointed at it
// can have its connections cut or stalled as a network would: watches
// broken mid-stream, requests hanging.
type TCPProxy struct {
	ln     net.Listener
	target string

	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	stallUntil time.Time
	closed     bool
}

// NewTCPProxy listens on a free 127.0.0.1 port and forwards to target
// (host:port).
func NewTCPProxy(target string) (*TCPProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &TCPProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *TCPProxy) Addr() string { return p.ln.Addr().String() }

func (p *TCPProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *TCPProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *TCPProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *TCPProxy) serve(client net.Conn) {
	p.waitStall()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
	p.untrack(client, server)
}

// pipe copies src to dst, holding each chunk while the proxy is stalled;
// either side failing closes both.
func (p *TCPProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitStall()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *TCPProxy) waitStall() {
	for {
		p.mu.Lock()
		d := time.Until(p.stallUntil)
		p.mu.Unlock()
		if d <= 0 {
			return
		}
		time.Sleep(min(d, 100*time.Millisecond))
	}
}

// CutAll closes every open connection (both sides), as a network
// partition or a load balancer restart does: watches end, requests in
// flight fail. New connections are accepted at once.
func (p *TCPProxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for c := range p.conns {
		c.Close()
	}
	return n
}

// Stall holds every byte in both directions, on open and new connections,
// for d: watch events arrive late and requests hang without failing.
func (p *TCPProxy) Stall(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stallUntil = time.Now().Add(d)
}

// Close stops accepting and closes every connection.
func (p *TCPProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.CutAll()
}
