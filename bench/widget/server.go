package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/cmd/serambi/instance"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// The server side of the benchmark: the real widget connector, inbox, outbox dispatcher and
// SQLite store, wired as cmd/serambi wires them, in a process of its own so that its memory is
// measured alone. It adds one thing a real server has elsewhere: /bench/agent, a WebSocket
// standing in for an agent's console. It streams every visitor message the inbox stores (read
// back from the store after the bus event, as the console hub does) and takes replies, which go
// through inbox.Reply and the outbox like a console reply.

const benchOrigin = "http://bench.local"

type agentFrame struct {
	Conv string `json:"conv"`
	ID   string `json:"id,omitempty"`
	Text string `json:"text"`
}

func runServer(dataDir, listen string) error {
	if path := os.Getenv("SERAMBI_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if os.Getenv("SERAMBI_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 256 // fine-grained, for a per-socket account
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	instance.TuneScheduler(os.Getenv, false, log) // as serambi itself runs on SQLite
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	store, err := sqlite.Open(ctx, filepath.Join(dataDir, "serambi.db"), log)
	if err != nil {
		return err
	}
	defer store.Close()
	blobs, err := sqlite.NewBlobs(filepath.Join(dataDir, "attachments"))
	if err != nil {
		return err
	}
	events := bus.NewLocal(log, 0)
	x := inbox.New(store, events, inbox.NewNormalizer("ID"), time.Now, log)
	cfg := widget.Config{
		Default:       widget.Settings{ID: "bench", Name: "Bench", AllowedOrigins: []string{benchOrigin}, Source: widget.SourceEnv},
		VisitorRate:   widget.Rate{}, // the load is the point: no rate limits
		IPRate:        widget.Rate{},
		MaxConnsPerIP: 0,
	}
	conn := widget.New(cfg, widget.Deps{Ingester: x, Deliveries: x, Store: store, State: store, Blobs: blobs,
		Events: events, Subscriber: events, Log: log, AgentsOnline: func() bool { return true }})
	d := inbox.NewDispatcher(store, map[inbox.Channel]inbox.Sender{inbox.ChannelWidget: conn}, events,
		inbox.DispatcherConfig{Owner: "bench"}, time.Now, log)
	x.SetOutboxWaker(d.Wake)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	conn.Register(e)
	ag := &agents{x: x, store: store}
	e.GET("/bench/agent", ag.serve)
	e.GET("/bench/stats", func(c echo.Context) error {
		if c.QueryParam("gc") == "1" {
			debug.FreeOSMemory() // a full GC, and the freed memory returned: the live size
		}
		if path := os.Getenv("SERAMBI_BENCH_HEAPPROFILE"); path != "" && c.QueryParam("gc") == "1" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		depth, _ := store.OutboxDepth(c.Request().Context())
		return c.JSON(http.StatusOK, map[string]any{
			"sockets": conn.Sockets(), "goroutines": runtime.NumGoroutine(), "outbox": depth,
			"heapInuse": ms.HeapInuse, "stackInuse": ms.StackInuse, "sys": ms.Sys,
		})
	})
	cancelSub := events.Subscribe(ag.onEvent)
	defer cancelSub()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = d.Run(ctx) }()
	go func() { defer wg.Done(); _ = conn.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	<-conn.Ready()
	fmt.Printf("READY http://%s\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	return nil
}

// agents is the stand-in for agents' consoles.
type agents struct {
	x     *inbox.Inbox
	store *sqlite.Store
	mu    sync.Mutex
	socks []*agentSock
}

type agentSock struct {
	ws  *websocket.Conn
	out chan []byte
}

var agentUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (a *agents) serve(c echo.Context) error {
	ws, err := agentUpgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil
	}
	s := &agentSock{ws: ws, out: make(chan []byte, 65536)}
	a.mu.Lock()
	a.socks = append(a.socks, s)
	a.mu.Unlock()
	s.out <- []byte(`{"conv":"","text":"ready"}`) // from now on every visitor message reaches it
	go func() {
		for b := range s.out {
			if ws.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		}
	}()
	for {
		var f agentFrame
		if err := ws.ReadJSON(&f); err != nil {
			break
		}
		go func() {
			if _, err := a.x.Reply(context.Background(), inbox.ReplyRequest{ConversationID: f.Conv, AgentID: "bench-agent",
				AgentName: "Agen", Text: f.Text, Channel: inbox.ChannelWidget}); err != nil {
				fmt.Fprintln(os.Stderr, "reply:", err)
			}
		}()
	}
	a.mu.Lock()
	for i, o := range a.socks {
		if o == s {
			a.socks = append(a.socks[:i], a.socks[i+1:]...)
			break
		}
	}
	a.mu.Unlock()
	close(s.out)
	return nil
}

func (a *agents) onEvent(e bus.Event) {
	if e.Topic != bus.MessageAdded {
		return
	}
	a.mu.Lock()
	n := len(a.socks)
	a.mu.Unlock()
	if n == 0 {
		return
	}
	m, err := a.store.MessageByID(context.Background(), e.MessageID)
	if err != nil || m.Channel != inbox.ChannelWidget || m.Direction != inbox.DirectionIn {
		return
	}
	b, _ := json.Marshal(agentFrame{Conv: m.ConversationID, ID: m.ID, Text: m.Text})
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.socks {
		select {
		case s.out <- b:
		default:
		}
	}
}
