package store_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestSMTPSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		if _, err := db.SMTPSettings(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SMTPSettings() on a new database: %v, want ErrNotFound", err)
		}
		want := store.SMTPSettings{Host: "smtp.example.com", Port: 587, Security: store.SMTPStartTLS, Username: "u",
			Password: "p", From: "rmm@example.com", HELO: "rmm.example.com", UpdatedBy: "owner@example.com"}
		for i, host := range []string{"smtp.example.com", "mail.example.net"} {
			want.Host, want.Port = host, 587+i
			err := db.WithTx(ctx, func(tx *store.Tx) error {
				_, err := tx.SaveSMTPSettings(ctx, want)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.SMTPSettings(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.SMTPSettings{}, "UpdatedAt")); diff != "" {
				t.Errorf("save %d: settings (-want +got):\n%s", i, diff)
			}
		}
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			host, pw, err := tx.SMTPCredentials(ctx)
			if host != want.Host || pw != "p" {
				t.Errorf("SMTPCredentials() = %q, %q; want %q, %q", host, pw, want.Host, "p")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestChannels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var hook, mail store.Channel
		err := db.WithTx(ctx, func(tx *store.Tx) error {
			var err error
			if hook, err = tx.CreateChannel(ctx, store.Channel{Name: "Hook", Kind: store.ChannelWebhook, URL: "https://h.example", Secret: "s", MinSeverity: "warning", Enabled: true}); err != nil {
				return err
			}
			mail, err = tx.CreateChannel(ctx, store.Channel{Name: "Ops", Kind: store.ChannelEmail, Recipients: []string{"a@example.com", "b@example.com"}, MinSeverity: "info", Enabled: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Channel(ctx, mail.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(mail, got, cmpopts.EquateApproxTime(0)); diff != "" {
			t.Errorf("email channel (-want +got):\n%s", diff)
		}
		mail.Recipients, mail.Enabled, mail.Name = []string{"c@example.com"}, false, "Ops team"
		if err := db.WithTx(ctx, func(tx *store.Tx) error { return tx.UpdateChannel(ctx, mail) }); err != nil {
			t.Fatal(err)
		}
		if got, _ = db.Channel(ctx, mail.ID); !cmp.Equal(got.Recipients, mail.Recipients) || got.Enabled || got.Name != "Ops team" {
			t.Errorf("after update: %+v, want recipients %v, disabled, named Ops team", got, mail.Recipients)
		}
		if got, _ = db.Channel(ctx, hook.ID); got.Recipients != nil || got.Secret != "s" {
			t.Errorf("webhook: recipients %v, secret %q; want none and %q", got.Recipients, got.Secret, "s")
		}
		hook.Name = "OPS TEAM"
		err = db.WithTx(ctx, func(tx *store.Tx) error { return tx.UpdateChannel(ctx, hook) })
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("renaming onto another channel's name: %v, want ErrConflict", err)
		}
		err = db.WithTx(ctx, func(tx *store.Tx) error { return tx.UpdateChannel(ctx, store.Channel{ID: "missing", Name: "x"}) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("updating a missing channel: %v, want ErrNotFound", err)
		}
	})
}
