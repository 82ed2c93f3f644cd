package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy on loopback that a test places between a client and a server, to cut
// the client off as a network partition would.
type Proxy struct {
	// Addr is the proxy's "127.0.0.1:port".
	Addr   string
	target string
	ln     net.Listener

	mu     sync.Mutex
	healed chan struct{} // closed while traffic flows
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	late   atomic.Int64 // bytes held by a partition, delivered after it heals
}

// StartProxy forwards connections to target ("host:port") until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, healed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.healed)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Partition stops every byte in both directions, on open connections and new ones, without
// closing anything: like a partition, the peers see silence, not a reset. Bytes sent meanwhile
// are held and delivered after Heal, as TCP retransmission would deliver them.
func (p *Proxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.healed:
		p.healed = make(chan struct{})
	default:
	}
}

// LateBytes is how many bytes, in either direction, were sent while the proxy was partitioned:
// held, and delivered after Heal, such as a deposed leader's late write.
func (p *Proxy) LateBytes() int64 { return p.late.Load() }

// Heal lets traffic flow again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.healed:
	default:
		close(p.healed)
	}
}

func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healed
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.conns == nil {
			return false
		}
		p.conns[c] = struct{}{}
		return true
	}
	delete(p.conns, c)
	return true
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	<-p.gate()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, true) || !p.track(s, true) {
		c.Close()
		s.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(s, c) }()
	go func() { defer wg.Done(); p.pump(c, s) }()
	wg.Wait()
	p.track(c, false)
	p.track(s, false)
}

// pump copies src to dst, holding each chunk while the proxy is partitioned.
func (p *Proxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			gate := p.gate()
			select {
			case <-gate:
			default:
				p.late.Add(int64(n)) // held now, delivered after Heal
				<-gate
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection: the other side sees the close
			return
		}
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Heal()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
