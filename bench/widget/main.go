// Command widget load-tests the chat widget connector over real WebSockets on loopback.
//
// It starts the server side in a child process (the real connector, inbox, outbox and SQLite
// store; see server.go) so that the server's memory is measured alone, then:
//
//	go run ./bench/widget -mode chat -c 1,10,50 -d 10s
//	    N visitors each send closed-loop over their widget socket: the next message leaves when
//	    the previous one reached the agent's socket. Reports msgs/s and end-to-end latency
//	    (visitor send → agent socket), then the reverse direction (agent reply → visitor socket),
//	    N conversations closed-loop.
//	go run ./bench/widget -mode idle -conns 19000 -ips 5 -hold 60s
//	    Opens that many idle visitor sockets (hello, then a ping every 25 s like the widget) from
//	    127.0.0.2…127.0.0.(1+ips), reports the server's RSS and bytes per connection, and measures
//	    chat latency (c=10) while they are held.
//
// Only loopback addresses are used. Counts and durations are bounded.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/bench/harness"
)

const (
	maxConns = 19500
	maxHold  = 10 * time.Minute
)

func main() {
	mode := flag.String("mode", "chat", "chat, idle, or server (the child process)")
	levels := flag.String("c", "1,10,50", "concurrency levels (chat)")
	dur := flag.Duration("d", 10*time.Second, "duration of each measurement")
	conns := flag.Int("conns", 19000, "idle sockets to hold (idle), at most 19500")
	ips := flag.Int("ips", 5, "source addresses 127.0.0.2… to spread idle sockets over")
	hold := flag.Duration("hold", 30*time.Second, "how long to hold the idle sockets after measuring, at most 10m")
	data := flag.String("data", "", "server: data directory")
	listen := flag.String("listen", "127.0.0.1:0", "server: listen address (loopback only)")
	flag.Parse()
	switch *mode {
	case "server":
		if !loopback(*listen) {
			log.Fatal("the bench server listens on loopback only")
		}
		if err := runServer(*data, *listen); err != nil {
			log.Fatal(err)
		}
	case "chat":
		srv := spawn()
		defer srv.stop()
		fmt.Printf("widget chat, closed loop, SQLite store, server pid %d\n", srv.pid)
		for _, c := range parseLevels(*levels) {
			cpu := srv.cpu()
			r := visitorsToAgent(srv.url, c, *dur)
			fmt.Printf("visitor→agent  c=%-3d %8.0f msgs/s  %s  (%d msgs, %d errors; server CPU %.0f µs/msg)\n",
				c, r.rate(*dur), r.lat.Summary(), len(r.lat), r.errs, perMsg(srv.cpu()-cpu, len(r.lat)))
		}
		for _, c := range parseLevels(*levels) {
			srv.settle()
			cpu := srv.cpu()
			r := agentToVisitors(srv.url, c, *dur)
			fmt.Printf("agent→visitor  c=%-3d %8.0f msgs/s  %s  (%d msgs, %d errors; server CPU %.0f µs/msg)\n",
				c, r.rate(*dur), r.lat.Summary(), len(r.lat), r.errs, perMsg(srv.cpu()-cpu, len(r.lat)))
		}
	case "idle":
		if *conns > maxConns || *conns < 1 {
			log.Fatalf("-conns must be 1-%d", maxConns)
		}
		if *hold > maxHold {
			log.Fatalf("-hold must be at most %s", maxHold)
		}
		if *ips < 1 || *ips > 50 {
			log.Fatal("-ips must be 1-50")
		}
		raiseFileLimit()
		srv := spawn()
		defer srv.stop()
		idle(srv, *conns, *ips, *dur, *hold)
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}

// child is the running server process, stopped by fatal too (log.Fatal would orphan it).
var child *server

func fatal(v ...any) {
	if child != nil {
		child.stop()
	}
	log.Fatal(v...)
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

func parseLevels(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 || c > 1000 {
			log.Fatalf("bad concurrency %q (1-1000)", f)
		}
		out = append(out, c)
	}
	return out
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// server is the child process.
type server struct {
	url string
	pid int
	cmd *exec.Cmd
	dir string
}

func spawn() *server {
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "serambi-widget-bench-")
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(exe, "-mode", "server", "-data", dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlives the load tool
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		cmd.Process.Kill()
		log.Fatalf("the bench server did not start: %q %v", line, err)
	}
	child = &server{url: strings.TrimSpace(strings.TrimPrefix(line, "READY ")), pid: cmd.Process.Pid, cmd: cmd, dir: dir}
	return child
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}

// rss reads the server's resident set size from /proc.
func (s *server) rss() int64 { return s.status("VmRSS:") }

// status reads one memory line of /proc/<pid>/status, in bytes. RssFile is mostly SQLite's
// memory-mapped database file, which grows with the data, not with the sockets; RssAnon is the
// process's own memory.
func (s *server) status(key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpu is the server's user+system CPU time so far, from /proc (clock ticks of 10 ms).
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// perMsg is CPU time per message in µs. The warm-up second is counted in the time but not in
// the messages, so this slightly overstates.
func perMsg(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// settle waits (up to a minute) until the outbox has sent every reply of the previous run, so
// that its catching up does not weigh on the next measurement.
func (s *server) settle() {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if st := s.stats(false); st != nil && num(st["outbox"]) == 0 {
			return
		}
	}
}

func (s *server) stats(gc bool) map[string]any {
	u := s.url + "/bench/stats"
	if gc {
		u += "?gc=1"
	}
	resp, err := http.Get(u)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// visitor is one widget socket.
type visitor struct {
	ws     *websocket.Conn
	wmu    sync.Mutex
	frames chan frame
}

type frame struct {
	T    string `json:"t"`
	CID  string `json:"cid"`
	From string `json:"from"`
	Text string `json:"text"`
	Code string `json:"code"`
	Msg  struct {
		ID string `json:"id"`
	} `json:"msg"`
}

func dialVisitor(base string, local net.IP, readFrames bool) (*visitor, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	if local != nil {
		d.NetDialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 30 * time.Second}).DialContext
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/widget/ws?inbox=bench"
	ws, _, err := d.Dial(u, http.Header{"Origin": {benchOrigin}})
	if err != nil {
		return nil, err
	}
	v := &visitor{ws: ws}
	if err := v.write(map[string]any{"t": "hello", "inbox": "bench"}); err != nil {
		ws.Close()
		return nil, err
	}
	// welcome, then history
	for i := 0; i < 2; i++ {
		if _, _, err := ws.ReadMessage(); err != nil {
			ws.Close()
			return nil, err
		}
	}
	if readFrames {
		v.frames = make(chan frame, 64)
		go func() {
			defer close(v.frames)
			for {
				var f frame
				if err := ws.ReadJSON(&f); err != nil {
					return
				}
				v.frames <- f
			}
		}()
	}
	return v, nil
}

func (v *visitor) write(x any) error {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	_ = v.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return v.ws.WriteJSON(x)
}

// agent is the console stand-in.
type agent struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

func dialAgent(base string) *agent {
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/bench/agent", nil)
	if err != nil {
		fatal(err)
	}
	var ready struct{ Text string }
	if err := ws.ReadJSON(&ready); err != nil || ready.Text != "ready" {
		fatal("the agent socket did not get ready: ", err)
	}
	return &agent{ws: ws}
}

func (a *agent) reply(conv, text string) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	return a.ws.WriteJSON(map[string]string{"conv": conv, "text": text})
}

type result struct {
	lat  harness.Latencies
	errs int64
}

func (r result) rate(d time.Duration) float64 { return float64(len(r.lat)) / d.Seconds() }

var runID atomic.Int64

// visitorsToAgent: c visitors send closed-loop; each message's latency is from the visitor's send
// to its arrival on the agent's socket.
func visitorsToAgent(base string, c int, d time.Duration) result {
	run := runID.Add(1)
	ag := dialAgent(base)
	defer ag.ws.Close()
	arrived := make([]chan int64, c) // per visitor: the sequence number that reached the agent
	for i := range arrived {
		arrived[i] = make(chan int64, 16)
	}
	go func() {
		for {
			var f struct{ Text string }
			if err := ag.ws.ReadJSON(&f); err != nil {
				return
			}
			var r, i, n, sent int64
			if k, _ := fmt.Sscanf(f.Text, "b %d %d %d %d", &r, &i, &n, &sent); k == 4 && r == run && int(i) < c {
				arrived[i] <- n
			}
		}
	}()
	vs := make([]*visitor, c)
	for i := range vs {
		v, err := dialVisitor(base, nil, true)
		if err != nil {
			fatal(err)
		}
		vs[i] = v
		defer v.ws.Close()
	}
	var mu sync.Mutex
	var all harness.Latencies
	var errs atomic.Int64
	warm := time.Now().Add(time.Second)
	deadline := warm.Add(d)
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			go func() { // acks and errors: only counted
				for f := range v.frames {
					if f.T == "error" {
						if errs.Add(1) <= 3 {
							log.Printf("error frame: %s", f.Code)
						}
					}
				}
			}()
			var mine harness.Latencies
			for n := int64(0); time.Now().Before(deadline); n++ {
				t0 := time.Now()
				text := fmt.Sprintf("b %d %d %d %d Halo, apakah kemeja ukuran L masih ada?", run, i, n, t0.UnixNano())
				if err := v.write(map[string]any{"t": "msg", "cid": fmt.Sprintf("run%03dv%05dn%09d", run, i, n), "text": text}); err != nil {
					errs.Add(1)
					return
				}
				select {
				case got := <-arrived[i]:
					if got != n {
						errs.Add(1)
					}
				case <-time.After(10 * time.Second):
					errs.Add(1)
					return
				}
				if t0.After(warm) {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{lat: all, errs: errs.Load()}
}

// agentToVisitors: c conversations; the agent replies closed-loop in each; latency is from the
// agent's send to the reply's arrival on the visitor's socket.
func agentToVisitors(base string, c int, d time.Duration) result {
	run := runID.Add(1)
	ag := dialAgent(base)
	defer ag.ws.Close()
	convs := make(chan struct {
		i    int
		conv string
	}, c)
	go func() {
		for {
			var f struct{ Conv, Text string }
			if err := ag.ws.ReadJSON(&f); err != nil {
				return
			}
			var r, i int64
			if k, _ := fmt.Sscanf(f.Text, "open %d %d", &r, &i); k == 2 && r == run {
				convs <- struct {
					i    int
					conv string
				}{int(i), f.Conv}
			}
		}
	}()
	vs := make([]*visitor, c)
	conv := make([]string, c)
	for i := range vs {
		v, err := dialVisitor(base, nil, true)
		if err != nil {
			fatal(err)
		}
		vs[i] = v
		defer v.ws.Close()
		if err := v.write(map[string]any{"t": "msg", "cid": fmt.Sprintf("open%03dv%05d", run, i), "text": fmt.Sprintf("open %d %d", run, i)}); err != nil {
			fatal(err)
		}
	}
	for range c {
		select {
		case x := <-convs:
			conv[x.i] = x.conv
		case <-time.After(30 * time.Second):
			fatal("conversations were not opened")
		}
	}
	var mu sync.Mutex
	var all harness.Latencies
	var errs atomic.Int64
	warm := time.Now().Add(time.Second)
	deadline := warm.Add(d)
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine harness.Latencies
			for n := int64(0); time.Now().Before(deadline); n++ {
				t0 := time.Now()
				want := fmt.Sprintf("r %d %d %d Sudah kami cek, stok masih ada.", run, i, n)
				if err := ag.reply(conv[i], want); err != nil {
					errs.Add(1)
					return
				}
				got := false
				timeout := time.After(10 * time.Second)
				for !got {
					select {
					case f, ok := <-v.frames:
						if !ok {
							errs.Add(1)
							return
						}
						got = f.T == "msg" && f.From == "agent" && f.Text == want
					case <-timeout:
						errs.Add(1)
						return
					}
				}
				if t0.After(warm) {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{lat: all, errs: errs.Load()}
}

// idle holds n quiet visitor sockets and measures what they cost the server.
func idle(srv *server, n, ips int, d, hold time.Duration) {
	// A short chat first, so that the baseline already holds what chatting costs whatever the
	// number of sockets (SQLite's page cache, the store's connections, buffers, pools).
	visitorsToAgent(srv.url, 10, 2*time.Second)
	agentToVisitors(srv.url, 10, 2*time.Second)
	time.Sleep(2 * time.Second)
	before := srv.rss()
	srv.stats(true)
	beforeGC := srv.rss()
	fmt.Printf("server pid %d, after a warm-up chat: RSS %.1f MiB (%.1f MiB after a forced GC); RssAnon %.1f MiB, RssFile %.1f MiB\n",
		srv.pid, mib(before), mib(beforeGC), mib(srv.status("RssAnon:")), mib(srv.status("RssFile:")))
	start := time.Now()
	socks := make([]*visitor, n)
	var failed atomic.Int64
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ip := net.IPv4(127, 0, 0, byte(2+i%ips))
			v, err := dialVisitor(srv.url, ip, false)
			if err != nil {
				if failed.Add(1) <= 3 {
					log.Printf("socket %d: %v", i, err)
				}
				return
			}
			socks[i] = v
			go func() { // drain pongs; notice closes
				for {
					if _, _, err := v.ws.ReadMessage(); err != nil {
						return
					}
				}
			}()
		}()
	}
	wg.Wait()
	open := n - int(failed.Load())
	fmt.Printf("opened %d sockets from %d source addresses in %s (%d failed)\n", open, ips, time.Since(start).Round(time.Millisecond), failed.Load())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the widget pings every 25 s; spread over the period
		t := time.NewTicker(25 * time.Second / time.Duration(max(1, n/100)))
		defer t.Stop()
		for i := 0; ; i = (i + 100) % n {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for j := i; j < min(i+100, n); j++ {
				if v := socks[j]; v != nil {
					_ = v.write(map[string]any{"t": "ping"})
				}
			}
		}
	}()
	time.Sleep(5 * time.Second)
	report := func(when string, st map[string]any, base int64) {
		rss := srv.rss()
		fmt.Printf("%s: server RSS %.1f MiB (+%.1f MiB over the baseline; %.0f bytes per connection); RssAnon %.1f MiB, RssFile %.1f MiB\n",
			when, mib(rss), mib(rss-base), float64(rss-base)/float64(max(open, 1)), mib(srv.status("RssAnon:")), mib(srv.status("RssFile:")))
		if st != nil {
			fmt.Printf("    %v sockets, %v goroutines, heap in use %.1f MiB, stacks %.1f MiB, Go sys %.1f MiB\n",
				st["sockets"], st["goroutines"], mib(num(st["heapInuse"])), mib(num(st["stackInuse"])), mib(num(st["sys"])))
		}
	}
	report(fmt.Sprintf("%d idle sockets, 5 s after connecting", open), srv.stats(false), before)
	r := visitorsToAgent(srv.url, 10, d)
	fmt.Printf("with them connected: visitor→agent c=10 %8.0f msgs/s  %s  (%d msgs, %d errors)\n", r.rate(d), r.lat.Summary(), len(r.lat), r.errs)
	r = agentToVisitors(srv.url, 10, d)
	fmt.Printf("with them connected: agent→visitor c=10 %8.0f msgs/s  %s  (%d msgs, %d errors)\n", r.rate(d), r.lat.Summary(), len(r.lat), r.errs)
	report("after the chat runs", srv.stats(false), before)
	fmt.Printf("holding for %s\n", hold)
	time.Sleep(hold)
	report("after the hold", srv.stats(false), before)
	report("after a forced GC (debug.FreeOSMemory: the live size; baseline also after a forced GC)", srv.stats(true), beforeGC)
	for _, v := range socks {
		if v != nil {
			v.ws.Close()
		}
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}
