package web

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/updates"
)

func TestReadSelection(t *testing.T) {
	for _, tt := range []struct {
		name  string
		form  url.Values
		want  selectionForm
		field string // the field refused; "" when read
	}{
		{"rows", url.Values{"id": {"a", "b"}}, selectionForm{IDs: []string{"a", "b"}}, ""},
		{"site", url.Values{"site": {"s1"}, "id": {"a"}}, selectionForm{Site: "s1"}, ""},
		{"client target", url.Values{"target": {"client:c1"}}, selectionForm{Client: "c1"}, ""},
		{"site target", url.Values{"target": {"site:s1"}}, selectionForm{Site: "s1"}, ""},
		{"all matching", url.Values{"all": {"1"}, "filter": {"q=web&status=bogus&sort=-last_seen"}, "id": {"a"}},
			selectionForm{All: true, Filter: agentQuery{Q: "web", Sort: "-last_seen", Page: 1}}, ""},
		{"all unchecked", url.Values{"all": {""}, "filter": {"q=web"}, "id": {"a"}}, selectionForm{IDs: []string{"a"}}, ""},
		{"nothing", url.Values{}, selectionForm{}, "selection"},
		{"agent target", url.Values{"target": {"agent:a"}}, selectionForm{}, "target"},
		{"target without ID", url.Values{"target": {"site:"}}, selectionForm{}, "target"},
		{"site and client", url.Values{"site": {"s1"}, "target": {"client:c1"}}, selectionForm{}, "target"},
		{"bad filter", url.Values{"all": {"1"}, "filter": {"q=%zz"}}, selectionForm{}, "filter"},
		{"too many rows", url.Values{"id": make([]string, updates.MaxAgents+1)}, selectionForm{}, "selection"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSelection(tt.form)
			var ie *input.Error
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("readSelection(%v): %v", tt.form, err)
			case tt.field != "" && (!errors.As(err, &ie) || ie.Field != tt.field):
				t.Fatalf("readSelection(%v) error %v, want one on field %q", tt.form, err, tt.field)
			case tt.field == "" && !selectionEqual(got, tt.want):
				t.Errorf("readSelection(%v) = %+v, want %+v", tt.form, got, tt.want)
			}
		})
	}
}

func selectionEqual(a, b selectionForm) bool {
	return a.Site == b.Site && a.Client == b.Client && a.All == b.All &&
		strings.Join(a.IDs, ",") == strings.Join(b.IDs, ",") && a.Filter.url() == b.Filter.url()
}

// FuzzBulkForm feeds the bulk forms arbitrary bodies: reading them never
// panics, refuses only with a field error, and what it reads is bounded as
// the list and the updates service expect.
func FuzzBulkForm(f *testing.F) {
	for _, seed := range []string{
		"id=a&id=b&spread=30m", "all=1&filter=q%3Dweb%26status%3Donline&release=r1&rollback=1",
		"target=site:s1&spread=2h&retry=1", "target=client:", "spread=-1h", "spread=99999999999h",
		"all=1&filter=%zz", "target=x", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // the server refuses such a body before the handler
		}
		var ie *input.Error
		sf, err := readSelection(form)
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("readSelection(%q): %v, want a field error", body, err)
		}
		if err == nil {
			ways := 0
			for _, set := range []bool{sf.Site != "", sf.Client != "", sf.All, len(sf.IDs) > 0} {
				if set {
					ways++
				}
			}
			if ways != 1 {
				t.Errorf("readSelection(%q) = %+v: %d ways, want exactly one", body, sf, ways)
			}
			if len(sf.Filter.Q) > 200 || !new(store.AgentFilter).SetStatus(sf.Filter.Status) || !store.ValidAgentSort(sf.Filter.Sort) {
				t.Errorf("readSelection(%q) filter %+v not bounded as the list's", body, sf.Filter)
			}
		}
		if _, err := postedUpdate(form, updates.Selection{}); err != nil && !errors.As(err, &ie) {
			t.Fatalf("postedUpdate(%q): %v, want a field error", body, err)
		}
	})
}
