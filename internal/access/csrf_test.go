package access

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestCSRFTokenIssuesCookieOnce(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	tok := CSRFToken(w, r, false)
	if len(tok) < 32 || len(tok) > 64 {
		t.Fatalf("CSRFToken() = %q, want 32 to 64 characters", tok)
	}
	c := onlyCookie(t, w.Result())
	if c.Name != csrfCookie || c.Value != tok || !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("CSRF cookie = %+v, want %s=%s, HttpOnly, SameSite=Strict, Path=/", c, csrfCookie, tok)
	}
	// Later calls in the same request see the new token and set no cookie.
	w2 := httptest.NewRecorder()
	if again := CSRFToken(w2, r, false); again != tok {
		t.Errorf("second CSRFToken in the same request = %q, want %q", again, tok)
	}
	if n := len(w2.Result().Cookies()); n != 0 {
		t.Errorf("second CSRFToken set %d cookies, want 0", n)
	}
	// Another request gets another token.
	if other := CSRFToken(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), false); other == tok {
		t.Errorf("two new requests got the same CSRF token %q", tok)
	}
}

func TestCSRFTokenReusesValidCookie(t *testing.T) {
	tests := []struct {
		name      string
		value     string
		wantReuse bool
	}{
		{name: "43 characters", value: strings.Repeat("a", 43), wantReuse: true},
		{name: "32 characters", value: strings.Repeat("b", 32), wantReuse: true},
		{name: "64 characters", value: strings.Repeat("c", 64), wantReuse: true},
		{name: "too short", value: "short"},
		{name: "too long", value: strings.Repeat("d", 65)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tt.value})
			w := httptest.NewRecorder()
			got := CSRFToken(w, r, false)
			setCookies := len(w.Result().Cookies())
			if tt.wantReuse {
				if got != tt.value || setCookies != 0 {
					t.Errorf("CSRFToken = %q with %d cookies set, want the existing %q and no cookie", got, setCookies, tt.value)
				}
				return
			}
			if got == tt.value || setCookies != 1 {
				t.Errorf("CSRFToken = %q with %d cookies set, want a fresh token and one cookie", got, setCookies)
			}
		})
	}
}

func TestCSRFTokenSecureCookie(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	CSRFToken(w, r, false)
	if c := onlyCookie(t, w.Result()); !c.Secure {
		t.Errorf("CSRF cookie over TLS = %+v, want Secure", c)
	}

	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	w = httptest.NewRecorder()
	CSRFToken(w, r, true)
	if c := onlyCookie(t, w.Result()); !c.Secure {
		t.Errorf("CSRF cookie behind a trusted TLS proxy = %+v, want Secure", c)
	}
}

func TestCSRFValid(t *testing.T) {
	tok := strings.Repeat("t", 43)
	tests := []struct {
		name   string
		cookie string // "" means none
		header string
		form   string // form field value; "" means no form body
		want   bool
	}{
		{name: "header matches", cookie: tok, header: tok, want: true},
		{name: "form field matches", cookie: tok, form: tok, want: true},
		{name: "header wins over form", cookie: tok, header: "wrong", form: tok, want: false},
		{name: "header mismatch", cookie: tok, header: tok + "x", want: false},
		{name: "header prefix", cookie: tok, header: tok[:20], want: false},
		{name: "nothing sent", cookie: tok, want: false},
		{name: "no cookie", header: tok, want: false},
		{name: "no cookie no header", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *http.Request
			if tt.form != "" {
				r = httptest.NewRequest("POST", "/", strings.NewReader(url.Values{CSRFField: {tt.form}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest("POST", "/", nil)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tt.cookie})
			}
			if tt.header != "" {
				r.Header.Set(CSRFHeader, tt.header)
			}
			if got := CSRFValid(r); got != tt.want {
				t.Errorf("CSRFValid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCSRFValidEmptyCookie(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Cookie", csrfCookie+"=")
	r.Header.Set(CSRFHeader, "")
	if CSRFValid(r) {
		t.Error("CSRFValid(empty cookie, empty header) = true, want false")
	}
}

func TestCSRFTokenThenValid(t *testing.T) {
	// The token a page embeds validates against the cookie it was issued with.
	w := httptest.NewRecorder()
	tok := CSRFToken(w, httptest.NewRequest("GET", "/", nil), false)
	r := httptest.NewRequest("POST", "/", nil)
	r.AddCookie(onlyCookie(t, w.Result()))
	r.Header.Set(CSRFHeader, tok)
	if !CSRFValid(r) {
		t.Error("CSRFValid(issued cookie + issued token) = false, want true")
	}
}

func TestSafe(t *testing.T) {
	tests := map[string]bool{
		"GET": true, "HEAD": true, "OPTIONS": true,
		"POST": false, "PUT": false, "PATCH": false, "DELETE": false, "get": false, "": false,
	}
	for method, want := range tests {
		if got := Safe(method); got != want {
			t.Errorf("Safe(%q) = %v, want %v", method, got, want)
		}
	}
}
