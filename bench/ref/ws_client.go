// ws_client: a minimal Go reference for bench/ws-go.sh — N WebSocket
// connections over TLS (crypto/tls), held the way Go programs hold them:
// a goroutine per connection blocked reading it, a bufio.Reader each.
// Standard library only (Debian's golang; no WebSocket package is in
// Debian's Go set but gorilla, which is not), so the upgrade and the
// frames are written here: a masked text frame per heartbeat, its echo
// read and compared byte for byte.
//
// It ramps with at most -window handshakes at once, waits, reads its
// own memory at rest (VmRSS, and the Go runtime's heap and stacks), then
// sends -rate heartbeats a second over all connections for -hold, each
// timed from its scheduled send, and prints one JSON line.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var msg = []byte("c1m heartbeat.\r\n")

type conn struct {
	tc     *tls.Conn
	wmu    sync.Mutex
	sentAt atomic.Int64 // scheduled send, ns since start; 0: none outstanding
}

var (
	start   = time.Now()
	rttMu   sync.Mutex
	rtts    []int64
	replies atomic.Int64
	bad     atomic.Int64
)

func rssBytes() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// dial makes one connection: TCP, TLS, the upgrade.
func dial(addr string, cfg *tls.Config) (*conn, *bufio.Reader, error) {
	tc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(tc, req); err != nil {
		tc.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(tc, 256)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tc.Close()
		return nil, nil, err
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		tc.Close()
		return nil, nil, fmt.Errorf("upgrade refused: %s", resp.Status)
	}
	return &conn{tc: tc}, br, nil
}

// read reads the server's frames (unmasked) until the connection ends:
// each text frame is a heartbeat's echo.
func (c *conn) read(br *bufio.Reader) {
	var hdr [8]byte
	buf := make([]byte, 0, 125)
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		op := hdr[0] & 0x0f
		if n > 1<<16 {
			return
		}
		buf = buf[:0]
		for uint64(len(buf)) < n {
			b, err := br.ReadByte()
			if err != nil {
				return
			}
			buf = append(buf, b)
		}
		if op == 8 {
			return
		}
		if op != 1 {
			continue
		}
		at := c.sentAt.Swap(0)
		if at == 0 || !bytes.Equal(buf, msg) {
			bad.Add(1)
			continue
		}
		replies.Add(1)
		rtt := time.Since(start).Nanoseconds() - at
		rttMu.Lock()
		rtts = append(rtts, rtt)
		rttMu.Unlock()
	}
}

// send writes a masked text frame carrying the heartbeat.
func (c *conn) send() error {
	f := make([]byte, 0, 6+len(msg))
	var m [4]byte
	rand.Read(m[:])
	f = append(f, 0x81, 0x80|byte(len(msg)), m[0], m[1], m[2], m[3])
	for i, b := range msg {
		f = append(f, b^m[i%4])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.tc.Write(f)
	return err
}

func main() {
	addrs := flag.String("addrs", "127.0.0.1:18443", "comma-separated ADDR:PORT to spread over")
	n := flag.Int("n", 10000, "connections")
	window := flag.Int("window", 2000, "handshakes under way at once")
	rate := flag.Float64("rate", 10000, "heartbeats a second over all connections")
	hold := flag.Duration("hold", 20*time.Second, "heartbeats for this long")
	flag.Parse()
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	targets := strings.Split(*addrs, ",")
	cfg := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(256)}

	runtime.GC()
	base := rssBytes()
	conns := make([]*conn, *n)
	sem := make(chan struct{}, *window)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	t0 := time.Now()
	for i := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, br, err := dial(targets[i%len(targets)], cfg)
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			conns[i] = c
			go c.read(br)
		}(i)
	}
	wg.Wait()
	ramp := time.Since(t0)
	time.Sleep(2 * time.Second)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	held := int64(*n) - failed.Load()
	idle := rssBytes() - base

	// Heartbeats: send k goes to connection k mod n at start + k/rate,
	// timed from that scheduled instant.
	every := time.Duration(float64(time.Second) / *rate)
	hs := time.Now()
	sent := 0
	for k := 0; ; k++ {
		due := hs.Add(time.Duration(k) * every)
		if due.Sub(hs) >= *hold {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		c := conns[k%len(conns)]
		if c == nil || c.sentAt.Load() != 0 {
			continue
		}
		c.sentAt.Store(due.Sub(start).Nanoseconds())
		if c.send() == nil {
			sent++
		}
	}
	heldFor := time.Since(hs)
	time.Sleep(2 * time.Second)
	rttMu.Lock()
	sort.Slice(rtts, func(a, b int) bool { return rtts[a] < rtts[b] })
	p99 := int64(0)
	if len(rtts) > 0 {
		p99 = rtts[len(rtts)*99/100]
	}
	rttMu.Unlock()
	out := map[string]any{
		"n": *n, "held": held, "failed": failed.Load(), "first_error": firstErr.Load(),
		"ramp_s": ramp.Seconds(), "handshakes_per_s": float64(held) / ramp.Seconds(),
		"idle_rss_per_conn":    float64(idle) / float64(held),
		"heap_inuse_per_conn":  float64(ms.HeapInuse) / float64(held),
		"stack_inuse_per_conn": float64(ms.StackInuse) / float64(held),
		"sent":                 sent, "replies": replies.Load(), "mismatched": bad.Load(),
		"replies_per_s": float64(replies.Load()) / heldFor.Seconds(),
		"rtt_p99_us":    p99 / 1000, "go": runtime.Version(),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, errors.Unwrap(err))
	}
}
