package input

import (
	"errors"
	"fmt"
	"testing"
)

func TestError(t *testing.T) {
	err := fmt.Errorf("create client: %w", Errorf("name", "must be at most %d characters", 100))
	var e *Error
	if !errors.As(err, &e) || e.Field != "name" || e.Message != "must be at most 100 characters" {
		t.Fatalf("errors.As(%v) = %+v, want the name field's error", err, e)
	}
	if got, want := e.Error(), "name: must be at most 100 characters"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
