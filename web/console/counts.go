package console

import (
	"context"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// Counting is a query per view, too costly for every page view and every event: counts are
// cached until a change bumps the generation, and pushed to open consoles at most every
// CountsEvery.

type sharedCounts struct {
	gen             uint64
	at              time.Time
	unassigned, all int
	teams           map[string]int
}

type countAt struct {
	gen uint64
	at  time.Time
	n   int
}

// countsMaxAge bounds how stale a count can be even when no event says it changed (an event lost
// by a full bus queue, or a change on another instance).
const countsMaxAge = time.Minute

func (h *Hub) counts(ctx context.Context, a agents.Agent) (templates.Counts, error) {
	h.countsMu.Lock()
	defer h.countsMu.Unlock()
	now := time.Now()
	open := []inbox.Status{inbox.StatusOpen}
	count := func(f inbox.ConversationFilter) (int, error) {
		f.Statuses = open
		n, err := h.c.store.CountConversations(ctx, f)
		if err != nil {
			return 0, fmt.Errorf("count conversations: %w", err)
		}
		return n, nil
	}
	if h.shared.teams == nil || h.shared.gen != h.gen || now.Sub(h.shared.at) > countsMaxAge {
		dir, err := h.c.directory(ctx)
		if err != nil {
			return templates.Counts{}, err
		}
		sc := sharedCounts{gen: h.gen, at: now, teams: map[string]int{}}
		if sc.unassigned, err = count(inbox.ConversationFilter{Assignee: inbox.AssigneeNone}); err != nil {
			return templates.Counts{}, err
		}
		if sc.all, err = count(inbox.ConversationFilter{}); err != nil {
			return templates.Counts{}, err
		}
		for _, t := range dir.Teams {
			if sc.teams[t.ID], err = count(inbox.ConversationFilter{TeamID: t.ID}); err != nil {
				return templates.Counts{}, err
			}
		}
		h.shared = sc
	}
	m, ok := h.mine[a.ID]
	if !ok || m.gen != h.gen || now.Sub(m.at) > countsMaxAge {
		n, err := count(inbox.ConversationFilter{Assignee: a.ID})
		if err != nil {
			return templates.Counts{}, err
		}
		m = countAt{gen: h.gen, at: now, n: n}
		h.mine[a.ID] = m
	}
	return templates.Counts{Mine: m.n, Unassigned: h.shared.unassigned, All: h.shared.all, Teams: h.shared.teams}, nil
}

// pushCounts sends fresh counts to every open console when something changed since the last push.
func (h *Hub) pushCounts(ctx context.Context) {
	h.countsMu.Lock()
	gen := h.gen
	due := gen != h.pushedGen
	h.countsMu.Unlock()
	if !due {
		return
	}
	h.mu.Lock()
	who := map[string]agents.Agent{}
	for s := range h.sockets {
		who[s.agent.ID] = s.agent
	}
	h.mu.Unlock()
	values := map[string]map[string]int{}
	for id, a := range who {
		c, err := h.counts(ctx, a)
		if err != nil {
			h.c.Log.Warn("console hub could not count views", "err", err)
			return
		}
		v := map[string]int{"mine": c.Mine, "unassigned": c.Unassigned, "all": c.All}
		for t, n := range c.Teams {
			v["team:"+t] = n
		}
		values[id] = v
	}
	h.mu.Lock()
	frames := map[string]*websocket.PreparedMessage{}
	for s := range h.sockets {
		v, ok := values[s.agent.ID]
		if !ok {
			continue
		}
		f, ok := frames[s.agent.ID]
		if !ok {
			f = prepare(0, []op{{Op: "counts", Values: v}})
			frames[s.agent.ID] = f
		}
		s.enqueue(f, 0)
	}
	h.mu.Unlock()
	h.countsMu.Lock()
	h.pushedGen = gen
	h.countsMu.Unlock()
}
