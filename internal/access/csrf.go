package access

import (
	"crypto/subtle"
	"net/http"

	"github.com/steward-rmm/steward/internal/auth"
)

// CSRF protection uses two layers: the standard library's cross-origin
// check (Sec-Fetch-Site / Origin) on every unsafe request, and a
// double-submit token that every dashboard form and htmx request carries,
// for browsers that send neither header.
const (
	csrfCookie = "steward_csrf"
	// CSRFField is the form field that carries the token.
	CSRFField = "csrf_token"
	// CSRFHeader carries the token on htmx and fetch requests.
	CSRFHeader = "X-CSRF-Token"
)

// CSRFToken returns the request's CSRF token, issuing a cookie for a new
// one when the browser has none.
func CSRFToken(w http.ResponseWriter, r *http.Request, trustProxy bool) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return c.Value
	}
	tok := auth.NewSecret("")
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: IsTLS(r, trustProxy), SameSite: http.SameSiteStrictMode,
	})
	// Make the token visible to later code in this same request.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tok})
	return tok
}

// CSRFValid reports whether the request carries the token matching its
// cookie, in the form field or the header.
func CSRFValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	sent := r.Header.Get(CSRFHeader)
	if sent == "" {
		sent = r.PostFormValue(CSRFField)
	}
	return sent != "" && subtle.ConstantTimeCompare([]byte(sent), []byte(c.Value)) == 1
}

// Safe reports whether a method cannot change state.
func Safe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}
