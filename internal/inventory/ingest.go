package inventory

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// HistoryRetention is how long inventory history is kept.
const HistoryRetention = 400 * 24 * time.Hour

// Service stores inventory reports and their history.
type Service struct {
	db  *store.DB
	log *slog.Logger
	now func() time.Time
}

// New returns a Service.
func New(db *store.DB, log *slog.Logger) *Service {
	return &Service{db: db, log: log, now: time.Now}
}

// Result says what an upload changed.
type Result struct {
	// Stale is true when the report was collected before the stored one
	// (a delayed retry) and was therefore ignored.
	Stale bool
	// Software is the number of programs stored for the agent.
	Software int
	// Changes is the number of history entries recorded.
	Changes int
}

// Ingest stores an agent's report in one transaction: it loads the stored
// report, writes only the software rows that differ and records the
// changes. Uploads of one agent are serialised; a report older than the
// stored one is ignored. An empty software list means the agent could not
// read it (see protocol.Inventory), so the stored list is kept.
func (s *Service) Ingest(ctx context.Context, agentID string, inv protocol.Inventory) (Result, error) {
	rows := installed(inv.Software)
	hash := softwareHash(rows)
	now := s.now().UTC()
	// A clock running ahead (the protocol accepts up to a day) would date
	// the report in the future, and every report after the clock is put
	// right would look older and be ignored: such a report counts as
	// collected when it arrived.
	collected := inv.CollectedAt
	if collected.After(now) {
		collected = now
	}
	var res Result
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		res = Result{}
		if err := tx.LockInventory(ctx, agentID); err != nil {
			return err
		}
		prev, err := tx.InventorySnapshot(ctx, agentID)
		first := errors.Is(err, store.ErrNotFound)
		if err != nil && !first {
			return err
		}
		if !first && collected.Before(prev.CollectedAt) {
			res.Stale = true
			return nil
		}
		snap := store.InventorySnapshot{
			AgentID: agentID, CollectedAt: collected, ReceivedAt: now, Reason: inv.Reason,
			Hardware: inv.Hardware, OS: inv.OS, Errors: inv.Errors, SoftwareCount: len(rows), SoftwareHash: hash,
		}
		var (
			changes       []Change
			added, gone   []store.InstalledSoftware
			softwareKnown = len(rows) > 0
		)
		switch {
		case first:
			added = rows
			changes = []Change{{Kind: KindFirstReport, Subject: "inventory", New: fmt.Sprintf("%d programs", len(rows))}}
		case !softwareKnown:
			snap.SoftwareCount, snap.SoftwareHash = prev.SoftwareCount, prev.SoftwareHash
			changes = DiffSystem(previous(prev), inv)
		case hash == prev.SoftwareHash:
			changes = DiffSystem(previous(prev), inv)
		case prev.SoftwareCount == 0:
			// The first readable list: like a first report, one marker
			// rather than an install per program.
			added = rows
			changes = append(DiffSystem(previous(prev), inv),
				Change{Kind: KindFirstReport, Subject: "software", New: fmt.Sprintf("%d programs", len(rows))})
		default:
			stored, err := tx.AgentSoftware(ctx, agentID, "")
			if err != nil {
				return err
			}
			added, gone = diffRows(stored, rows)
			old := previous(prev)
			old.Software = asReported(stored)
			changes = FoldSoftware(Diff(old, protocol.Inventory{Hardware: inv.Hardware, OS: inv.OS, Software: asReported(rows)}))
		}
		if err := tx.RemoveAgentSoftware(ctx, agentID, gone); err != nil {
			return err
		}
		if err := tx.AddSoftwareTitles(ctx, titles(added)); err != nil {
			return err
		}
		if err := tx.AddAgentSoftware(ctx, agentID, added); err != nil {
			return err
		}
		if err := tx.PutInventorySnapshot(ctx, snap); err != nil {
			return err
		}
		entries := make([]store.InventoryChange, len(changes))
		for i, c := range changes {
			entries[i] = store.InventoryChange{
				ID: store.NewID(), AgentID: agentID, At: collected, Kind: c.Kind, Subject: c.Subject,
				Source: c.Source, OldValue: c.Old, NewValue: c.New,
			}
		}
		if err := tx.AddInventoryChanges(ctx, entries); err != nil {
			return err
		}
		res.Software, res.Changes = snap.SoftwareCount, len(entries)
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("store inventory of agent %s: %w", agentID, err)
	}
	return res, nil
}

// Prune deletes history older than HistoryRetention. It is a singleton
// job.
func (s *Service) Prune(ctx context.Context) error {
	n, err := s.db.DeleteInventoryChangesBefore(ctx, s.now().Add(-HistoryRetention))
	if n > 0 {
		s.log.Info("pruned inventory history", "count", n)
	}
	return err
}

// installed turns a report's software into rows, one per title and
// source (a list can repeat an entry, e.g. a program registered twice),
// sorted by title and source.
func installed(list []protocol.Software) []store.InstalledSoftware {
	rows := make([]store.InstalledSoftware, 0, len(list))
	for _, s := range list {
		rows = append(rows, store.InstalledSoftware{
			TitleID: store.TitleID(s.Name, s.Version, s.Publisher), Name: s.Name, Version: s.Version,
			Publisher: s.Publisher, Source: s.Source, InstallDate: s.InstallDate,
		})
	}
	slices.SortStableFunc(rows, compareRows)
	return slices.CompactFunc(rows, func(a, b store.InstalledSoftware) bool { return compareRows(a, b) == 0 })
}

func compareRows(a, b store.InstalledSoftware) int {
	return cmp.Or(strings.Compare(a.TitleID, b.TitleID), strings.Compare(a.Source, b.Source))
}

// softwareHash digests sorted rows: equal digests, equal rows.
func softwareHash(rows []store.InstalledSoftware) string {
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", r.TitleID, r.Source, r.InstallDate)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// diffRows returns the rows to insert and to delete to turn stored into
// want. A changed install date replaces the row.
func diffRows(stored, want []store.InstalledSoftware) (added, gone []store.InstalledSoftware) {
	type key struct{ title, source string }
	have := make(map[key]string, len(stored))
	for _, r := range stored {
		have[key{r.TitleID, r.Source}] = r.InstallDate
	}
	keep := make(map[key]bool, len(want))
	for _, r := range want {
		k := key{r.TitleID, r.Source}
		date, ok := have[k]
		if ok && date == r.InstallDate {
			keep[k] = true
			continue
		}
		added = append(added, r)
	}
	for _, r := range stored {
		if !keep[key{r.TitleID, r.Source}] {
			gone = append(gone, r)
		}
	}
	return added, gone
}

func titles(rows []store.InstalledSoftware) []store.SoftwareTitle {
	out := make([]store.SoftwareTitle, 0, len(rows))
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		if !seen[r.TitleID] {
			seen[r.TitleID] = true
			out = append(out, store.SoftwareTitle{ID: r.TitleID, Name: r.Name, Version: r.Version, Publisher: r.Publisher})
		}
	}
	return out
}

func asReported(rows []store.InstalledSoftware) []protocol.Software {
	out := make([]protocol.Software, len(rows))
	for i, r := range rows {
		out[i] = protocol.Software{Name: r.Name, Version: r.Version, Publisher: r.Publisher, Source: r.Source, InstallDate: r.InstallDate}
	}
	return out
}

// previous is the stored report as the diff reads it.
func previous(s store.InventorySnapshot) protocol.Inventory {
	return protocol.Inventory{CollectedAt: s.CollectedAt, Reason: s.Reason, Hardware: s.Hardware, OS: s.OS, Errors: s.Errors}
}
