package workload

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// drainListener hands the HTTP server connections from ln through an accept goroutine of
// its own, so that Shutdown can stop accepting without closing the socket, take every
// connection the kernel has already completed (drainBacklog), and only then close it.
// Closing a listening socket outright resets those connections, and with them requests
// their clients had already sent.
type drainListener struct {
	ln      net.Listener
	results chan acceptResult
	closed  chan struct{}
	once    sync.Once
	paused  atomic.Bool
	wg      sync.WaitGroup // the accept goroutine
}

type acceptResult struct {
	c   net.Conn
	err error
}

func newDrainListener(ln net.Listener) *drainListener {
	l := &drainListener{ln: ln, results: make(chan acceptResult), closed: make(chan struct{})}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *drainListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil && l.paused.Load() {
			return // the deadline set by pause, or the close that follows it
		}
		select {
		case l.results <- acceptResult{c, err}:
		case <-l.closed:
			if c != nil {
				_ = c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Accept returns the next connection; errors of the socket are passed on for net/http to
// retry or give up on as it would with the socket itself.
func (l *drainListener) Accept() (net.Conn, error) {
	select {
	case r := <-l.results:
		return r.c, r.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// pause stops taking connections off the socket, which stays open: the kernel keeps
// completing handshakes into the backlog until close. Without deadline support (not a TCP
// listener) it closes the socket instead.
func (l *drainListener) pause() {
	if l.paused.Swap(true) {
		l.wg.Wait()
		return
	}
	if dl, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok && dl.SetDeadline(time.Now()) == nil {
		l.wg.Wait()
		_ = dl.SetDeadline(time.Time{})
		return
	}
	_ = l.ln.Close()
	l.wg.Wait()
}

// drainAndClose hands every connection waiting in the backlog to the server, then closes
// the socket and makes Accept fail. Call after pause, with the server still accepting.
func (l *drainListener) drainAndClose() {
	for _, c := range drainBacklog(l.ln) {
		select {
		case l.results <- acceptResult{c: c}:
		case <-l.closed:
			_ = c.Close()
		}
	}
	_ = l.Close()
}

// Close closes the socket and makes Accept fail with net.ErrClosed.
func (l *drainListener) Close() error {
	var err error
	l.once.Do(func() {
		l.paused.Store(true)
		err = l.ln.Close()
		close(l.closed)
	})
	return err
}

func (l *drainListener) Addr() net.Addr { return l.ln.Addr() }
