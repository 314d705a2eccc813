package manage

import (
	"context"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/store"
)

// Maintenance window bounds.
const (
	MinMaintenance = time.Minute
	MaxMaintenance = 30 * 24 * time.Hour
)

// StartMaintenance silences new alerts of a client, site or agent from
// start for the duration.
func (s *Service) StartMaintenance(ctx context.Context, p access.Principal, level, targetID string, start time.Time, d time.Duration, reason string) (store.MaintenanceWindow, error) {
	if err := access.Require(p, access.HandleAlerts); err != nil {
		return store.MaintenanceWindow{}, err
	}
	if level == store.LevelDefault {
		return store.MaintenanceWindow{}, input.Errorf("level", "must be client, site or agent")
	}
	if err := s.checkTarget(ctx, level, targetID); err != nil {
		return store.MaintenanceWindow{}, err
	}
	if d < MinMaintenance || d > MaxMaintenance {
		return store.MaintenanceWindow{}, input.Errorf("duration", "must be between 1m and 720h")
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 {
		return store.MaintenanceWindow{}, input.Errorf("reason", "must be at most 500 characters")
	}
	if start.IsZero() {
		start = s.now()
	}
	var w store.MaintenanceWindow
	err := s.db.WithTx(ctx, func(tx *store.Tx) error {
		var err error
		w, err = tx.CreateMaintenanceWindow(ctx, store.MaintenanceWindow{
			Level: level, TargetID: targetID, StartsAt: start, EndsAt: start.Add(d), Reason: reason, CreatedBy: p.ActorName(),
		})
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("maintenance.start", level, targetID, map[string]string{
			"window_id": w.ID, "ends_at": w.EndsAt.Format(time.RFC3339), "reason": reason}))
	})
	return w, err
}

// EndMaintenance removes a window.
func (s *Service) EndMaintenance(ctx context.Context, p access.Principal, id string) error {
	if err := access.Require(p, access.HandleAlerts); err != nil {
		return err
	}
	return s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteMaintenanceWindow(ctx, id); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("maintenance.end", "maintenance_window", id, nil))
	})
}
