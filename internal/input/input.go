// Package input reports input a caller must correct, naming the field,
// so that every layer (services, API, dashboard) can show it beside what
// was typed. It depends on nothing.
package input

import "fmt"

// Error reports bad input, naming the field.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

// Errorf returns an *Error for the field with a formatted message.
func Errorf(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}
