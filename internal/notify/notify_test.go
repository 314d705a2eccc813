package notify_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/notify"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	bodies  []string
	badSigs int
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{status: 200}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if notify.Sign(secret, req.Header.Get(notify.HeaderTimestamp), body) != req.Header.Get(notify.HeaderSignature) {
			r.badSigs++
		}
		r.bodies = append(r.bodies, string(body))
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func TestDeliverRetryAndRouting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		const secret = "a-very-secret-webhook-key"
		rcv := newReceiver(t, secret)
		svc := manage.New(db)
		warn, _, err := svc.CreateChannel(ctx, access.Console(), manage.ChannelInput{Name: "warn", URL: rcv.URL, Secret: secret, MinSeverity: "warning"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.CreateChannel(ctx, access.Console(), manage.ChannelInput{Name: "crit", URL: rcv.URL + "/crit", Secret: secret, MinSeverity: "critical"}); err != nil {
			t.Fatal(err)
		}
		n := notify.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), notify.Options{})

		// A warning reaches only the warning channel; the receiver fails first.
		rcv.mu.Lock()
		rcv.status = 500
		rcv.mu.Unlock()
		n.AlertChanged(ctx, store.Alert{ID: "al1", Severity: "warning", Rule: "cpu"}, true, []string{policy.AllChannels})
		if err := n.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
		log, err := db.ListDeliveries(ctx, warn.ID, store.Page{})
		if err != nil || len(log) != 1 || log[0].State != "pending" || log[0].Attempts != 1 || log[0].LastStatus != 500 {
			t.Fatalf("after a failed attempt: %+v, %v; want one pending delivery with 1 attempt and status 500", log, err)
		}
		if !log[0].NextAt.After(time.Now()) {
			t.Errorf("retry due at %s, want a backoff into the future", log[0].NextAt)
		}
		// Not due yet: nothing is sent again.
		if err := n.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
		rcv.mu.Lock()
		if len(rcv.bodies) != 1 || rcv.badSigs != 0 {
			t.Errorf("receiver got %d requests (%d badly signed), want 1 correctly signed", len(rcv.bodies), rcv.badSigs)
		}
		var got struct {
			Event string              `json:"event"`
			Alert struct{ ID string } `json:"alert"`
		}
		json.Unmarshal([]byte(rcv.bodies[0]), &got)
		rcv.mu.Unlock()
		if got.Event != "alert.opened" || got.Alert.ID != "al1" {
			t.Errorf("notification = %+v, want alert.opened for al1", got)
		}

		// The test button sends at once and logs the attempt.
		rcv.mu.Lock()
		rcv.status = 204
		rcv.mu.Unlock()
		if status, err := n.Test(ctx, warn.ID); err != nil || status != 204 {
			t.Errorf("Test = %d, %v; want 204, nil", status, err)
		}
		if _, err := n.Test(ctx, "missing"); err == nil {
			t.Errorf("Test(missing) = nil error, want one")
		}
	})
}
