package httpserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func serve(t *testing.T, o Options, h http.Handler) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, err := Start(ctx, "127.0.0.1:0", h, o)
	if err != nil {
		t.Fatal(err)
	}
	return addr.String()
}

// closedWithin reports whether the server closes conn within d.
func closedWithin(conn net.Conn, d time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	ne, timeout := err.(net.Error)
	return !(timeout && ne.Timeout())
}

// TestSlowClients: a body trickled a byte at a time, and headers that never
// end, are cut off by the deadlines instead of holding a connection.
func TestSlowClients(t *testing.T) {
	o := Options{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: time.Second}
	addr := serve(t, o, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))

	// A body of 100 bytes, one byte every 100 ms: 10 s in all.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			if _, err := conn.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	start := time.Now()
	if !closedWithin(conn, 3*time.Second) {
		t.Fatal("a trickled body held the connection for 3 s")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a trickled body was cut off after %s, want about the 500 ms read timeout", d)
	}
	conn.Close()
	<-done

	// Headers that never end.
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	io.WriteString(conn2, "GET / HTTP/1.1\r\nHost: x\r\n")
	if !closedWithin(conn2, 2*time.Second) {
		t.Fatal("unfinished headers held the connection for 2 s")
	}
}

// TestConnectionCap: past MaxConns, a new connection waits until one of the
// held ones closes.
func TestConnectionCap(t *testing.T) {
	addr := serve(t, Options{MaxConns: 2}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A served request makes sure the server holds the connection.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := http.ReadResponse(bufio.NewReader(third), nil); err == nil {
		t.Fatal("a third connection was served while two were held")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(third), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the third connection after one closed: %v", err)
	}
}

// TestDefaults: a zero Options has every limit.
func TestDefaults(t *testing.T) {
	s := New(http.NotFoundHandler(), Options{})
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes == 0 {
		t.Errorf("a server without a limit: %+v", s)
	}
}
