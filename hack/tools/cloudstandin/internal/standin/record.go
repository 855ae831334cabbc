// Package standin is what the cloud stand-in test peers (aws, azure, gcp) share: their record
// of calls and secrets for the tests (/_standin/calls, /_standin/secrets), the check of a
// Kubernetes ServiceAccount token, the answer writers, random identifiers and the flags and
// TLS serving every stand-in starts with. What differs per cloud (endpoints, documents, error
// codes and messages) stays in the cloud's own main package.
package standin

import (
	"log"
	"net/http"
	"sync"
	"time"
)

// Outcome is how a call ended. Every stand-in's call record embeds it first; a record never
// holds a secret.
type Outcome struct {
	Service string `json:"service"`
	Time    string `json:"time"`
	OK      bool   `json:"ok"`
	Status  int    `json:"status"`
	Error   string `json:"error,omitempty"` // the error code answered
}

func (o *Outcome) outcome() *Outcome { return o }

// Record is a pointer to a stand-in's call record type C, which embeds Outcome.
type Record[C any] interface {
	*C
	outcome() *Outcome
	// LogText is what the call's log line says after its service and outcome: on success
	// the names the call concerned, on failure the message answered. Never a secret.
	LogText() string
}

// Calls is the record of every call so far, answered on GET /_standin/calls as
// {"calls": [...]}. The zero value is empty and ready.
type Calls[C any, P Record[C]] struct {
	mu    sync.Mutex
	calls []C
}

// Add stamps c with the time, keeps it and logs it ("SERVICE ok TEXT" or
// "SERVICE STATUS ERROR: TEXT").
func (l *Calls[C, P]) Add(c C) {
	o := P(&c).outcome()
	o.Time = time.Now().UTC().Format(time.RFC3339Nano)
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	if o.OK {
		log.Printf("%s ok %s", o.Service, P(&c).LogText())
	} else {
		log.Printf("%s %d %s: %s", o.Service, o.Status, o.Error, P(&c).LogText())
	}
}

func (l *Calls[C, P]) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	l.mu.Lock()
	out := map[string]any{"calls": append([]C{}, l.calls...)}
	l.mu.Unlock()
	WriteJSON(w, http.StatusOK, "application/json", out)
}

// Secrets is every secret a stand-in has received or handed out, by kind, answered on
// GET /_standin/secrets as {"KIND": [...], ...} so that a test can assert that none of them
// leaked into what the client shows (statuses, events, logs).
type Secrets struct {
	mu    sync.Mutex
	kinds map[string][]string
	seen  map[string]bool // "KIND\x00VALUE"
}

// NewSecrets is an empty record answering every kind, as [] until it has a value.
func NewSecrets(kinds ...string) *Secrets {
	s := &Secrets{kinds: map[string][]string{}, seen: map[string]bool{}}
	for _, k := range kinds {
		s.kinds[k] = []string{}
	}
	return s
}

// Add keeps value under kind, once; an empty value is no secret and is not kept.
func (s *Secrets) Add(kind, value string) {
	if value == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key := kind + "\x00" + value; !s.seen[key] {
		s.seen[key] = true
		s.kinds[kind] = append(s.kinds[kind], value)
	}
}

func (s *Secrets) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make(map[string][]string, len(s.kinds))
	for k, v := range s.kinds {
		out[k] = append([]string{}, v...)
	}
	s.mu.Unlock()
	WriteJSON(w, http.StatusOK, "application/json", out)
}

// Handler answers GET /_standin/calls from calls and GET /_standin/secrets from secrets and
// passes every other request to api.
func Handler(calls, secrets, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/_standin/calls":
			calls.ServeHTTP(w, r)
		case r.Method == http.MethodGet && r.URL.Path == "/_standin/secrets":
			secrets.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}
