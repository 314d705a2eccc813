package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

func TestParseRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    store.Role
		wantErr bool
	}{
		{in: "owner", want: store.RoleOwner},
		{in: "admin", want: store.RoleAdmin},
		{in: " Technician ", want: store.RoleTechnician},
		{in: "READONLY", want: store.RoleReadonly},
		{in: "", wantErr: true},
		{in: "root", wantErr: true},
		{in: "read only", wantErr: true},
	}
	for _, tt := range tests {
		got, err := store.ParseRole(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, error = %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"  Alice@Example.COM\n", "alice@example.com"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := store.NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *clock) {
		ctx := t.Context()
		if has, err := db.HasUsers(ctx); err != nil || has {
			t.Fatalf("HasUsers() on an empty database = %t, %v; want false, nil", has, err)
		}

		clk.Advance(1234567 * time.Microsecond) // sub-millisecond part is dropped
		u, err := db.CreateUser(ctx, "  Alice@Example.COM ", "hash-a", store.RoleOwner)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		want := store.User{ID: u.ID, Email: "alice@example.com", PasswordHash: "hash-a", Role: store.RoleOwner,
			CreatedAt: clk.Now().Truncate(time.Millisecond)}
		if diff := cmp.Diff(want, u); diff != "" {
			t.Errorf("CreateUser (-want +got):\n%s", diff)
		}
		if u.ID == "" {
			t.Errorf("CreateUser returned an empty ID")
		}

		for _, email := range []string{"alice@example.com", "ALICE@example.com", " alice@EXAMPLE.com "} {
			got, err := db.UserByEmail(ctx, email)
			if err != nil {
				t.Fatalf("UserByEmail(%q): %v", email, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("UserByEmail(%q) (-want +got):\n%s", email, diff)
			}
		}
		got, err := db.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID(%s): %v", u.ID, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UserByID (-want +got):\n%s", diff)
		}
		if has, err := db.HasUsers(ctx); err != nil || !has {
			t.Errorf("HasUsers() = %t, %v; want true, nil", has, err)
		}

		// Duplicate emails conflict whatever their case and spacing.
		for _, email := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", "\talice@example.com"} {
			if _, err := db.CreateUser(ctx, email, "hash-b", store.RoleAdmin); !errors.Is(err, store.ErrConflict) {
				t.Errorf("CreateUser(%q) duplicate error = %v, want ErrConflict", email, err)
			}
		}

		if _, err := db.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByEmail(unknown) error = %v, want ErrNotFound", err)
		}
		if _, err := db.UserByID(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByID(unknown) error = %v, want ErrNotFound", err)
		}

		if err := db.SetPassword(ctx, u.ID, "hash-new"); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		if got, _ := db.UserByID(ctx, u.ID); got.PasswordHash != "hash-new" {
			t.Errorf("PasswordHash after SetPassword = %q, want %q", got.PasswordHash, "hash-new")
		}
		if err := db.SetPassword(ctx, store.NewID(), "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetPassword(unknown user) error = %v, want ErrNotFound", err)
		}
	})
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		users, err := db.ListUsers(ctx)
		if err != nil || len(users) != 0 {
			t.Fatalf("ListUsers() on an empty database = %v, %v; want none", users, err)
		}
		for _, e := range []string{"carol@example.com", "Alice@example.com", "bob@example.com"} {
			if _, err := db.CreateUser(ctx, e, "h", store.RoleTechnician); err != nil {
				t.Fatalf("CreateUser(%q): %v", e, err)
			}
		}
		users, err = db.ListUsers(ctx)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		var emails []string
		for _, u := range users {
			emails = append(emails, u.Email)
		}
		if diff := cmp.Diff([]string{"alice@example.com", "bob@example.com", "carol@example.com"}, emails); diff != "" {
			t.Errorf("ListUsers() emails (-want +got):\n%s", diff)
		}
		if err := db.WithTx(ctx, func(tx *store.Tx) error {
			n, err := tx.CountUsers(ctx)
			if n != 3 {
				t.Errorf("CountUsers() = %d, want 3", n)
			}
			return err
		}); err != nil {
			t.Fatalf("CountUsers: %v", err)
		}
	})
}

func TestCreateFirstUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		u, err := db.CreateFirstUser(ctx, "Owner@Example.com", "h", store.RoleOwner)
		if err != nil {
			t.Fatalf("CreateFirstUser on an empty database: %v", err)
		}
		if u.Email != "owner@example.com" || u.Role != store.RoleOwner {
			t.Errorf("CreateFirstUser() = %+v, want owner@example.com as owner", u)
		}
		if _, err := db.CreateFirstUser(ctx, "second@example.com", "h", store.RoleOwner); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateFirstUser with a user present: error = %v, want ErrConflict", err)
		}
		if users, _ := db.ListUsers(ctx); len(users) != 1 {
			t.Errorf("ListUsers() after refused CreateFirstUser = %d users, want 1", len(users))
		}
	})
}

// TestCreateFirstUserRace is the setup page submitted twice at once, with
// different emails so the unique index cannot save the day.
func TestCreateFirstUserRace(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		const n = 8
		// Open n pooled connections first, so the transactions overlap
		// instead of queueing behind connection setup.
		race(n, func(int) error { return db.Ping(ctx) })
		errs := race(n, func(i int) error {
			_, err := db.CreateFirstUser(ctx, fmt.Sprintf("owner%d@example.com", i), "h", store.RoleOwner)
			return err
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("CreateFirstUser #%d error = %v, want nil or ErrConflict", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d concurrent CreateFirstUser calls: %d succeeded, want exactly 1", n, wins)
		}
		if users, _ := db.ListUsers(ctx); len(users) != 1 {
			t.Errorf("ListUsers() after the race = %d users, want 1", len(users))
		}
	})
}
