package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Bounds of an imported file: a JSON export holds a body of at most
// 48 KiB, which escaping can grow, plus arguments, environment and
// description; a raw script file is the body itself.
const (
	maxImportFile    = 512 << 10
	maxImportRequest = maxImportFile + 16<<10
)

// scriptFile is a script as a file: the export, and what the import
// reads back. Its fields are those the API takes to create a script, so
// an export can also be posted to POST /api/v1/scripts. It is its own
// type, not jobs.ScriptInput, because a file format must not change when
// the service's input does (and that one carries a version to check).
type scriptFile struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Category    string            `json:"category"`
	Language    string            `json:"language"`
	Body        string            `json:"body"`
	Args        []string          `json:"args"`
	Env         map[string]string `json:"env"`
	Timeout     string            `json:"timeout"`
	TargetOS    string            `json:"target_os"`
	RunAs       string            `json:"run_as"`
}

// rawExtensions maps a script file's extension to its language.
var rawExtensions = map[string]string{
	".ps1": protocol.LangPowerShell,
	".cmd": protocol.LangCmd,
	".bat": protocol.LangCmd,
	".sh":  protocol.LangBash,
	".py":  protocol.LangPython,
	".zsh": protocol.LangZsh,
}

// exportName makes a script's name safe as a file name: letters, digits,
// dot, dash and underscore, the rest as dashes.
func exportName(name string) string {
	var b strings.Builder
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-.")
	if s == "" {
		return "script"
	}
	return s
}

// exportScript serves GET /scripts/{id}/export: the script as a JSON
// document, or with ?format=raw its body alone, named for its language.
func (h *Handler) exportScript(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	sc, err := h.cfg.DB.GetScript(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var (
		data        []byte
		name, ctype string
	)
	if r.URL.Query().Get("format") == "raw" {
		data, name, ctype = []byte(sc.Body), exportName(sc.Name)+languageExt(sc.Language), "text/plain; charset=utf-8"
	} else {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		// Bodies are full of < > &: keep them readable in the file.
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(fileOf(sc)); err != nil {
			return fmt.Errorf("export script %s: %w", sc.ID, err)
		}
		data, name, ctype = buf.Bytes(), exportName(sc.Name)+".json", "application/json"
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	hd.Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
	return nil
}

// fileOf is the export of a script.
func fileOf(sc store.Script) scriptFile {
	return scriptFile{Name: sc.Name, Description: sc.Description, Category: sc.Category, Language: sc.Language, Body: sc.Body,
		Args: sc.Args, Env: sc.Env, Timeout: scriptDuration(sc.Timeout), TargetOS: sc.TargetOS, RunAs: sc.RunAs}
}

// importRefusal is why an uploaded file cannot fill the editor.
type importRefusal struct {
	status int
	msg    string
}

func (e *importRefusal) Error() string { return e.msg }

// refuse is a 400 importRefusal.
func refuse(format string, args ...any) error {
	return &importRefusal{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// importScript serves POST /scripts/import: an uploaded file fills the
// new-script editor, to be reviewed and saved; nothing is saved here.
func (h *Handler) importScript(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := allowed(p, access.EditScripts); err != nil {
		return err
	}
	f, name, err := readImport(r)
	var refusal *importRefusal
	if errors.As(err, &refusal) {
		ed := scriptEditor{Form: scriptForm{Language: protocol.LangPowerShell, Timeout: scriptDuration(protocol.DefaultScriptTimeout),
			RunAs: protocol.RunAsSystem}, ImportError: refusal.msg}
		return h.renderScriptEditor(w, r, refusal.status, ed)
	}
	if err != nil {
		return err
	}
	return h.renderScriptEditor(w, r, http.StatusOK, scriptEditor{Form: f,
		Notice: "Imported from " + name + ". Review it and save to add it to the library."})
}

// readImport reads the upload (the CSRF token first, then the file) and
// turns the file into the editor's fields.
func readImport(r *http.Request) (scriptForm, string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return scriptForm{}, "", refuse("Choose a file to import.")
	}
	first, err := mr.NextPart()
	if err != nil || first.FormName() != access.CSRFField {
		return scriptForm{}, "", errCSRF
	}
	tok, err := io.ReadAll(io.LimitReader(first, 256))
	if err != nil || !csrfMatches(r, string(tok)) {
		return scriptForm{}, "", errCSRF
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "file" || part.FileName() == "" {
		return scriptForm{}, "", refuse("Choose a file to import.")
	}
	name := path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
	data, err := io.ReadAll(io.LimitReader(part, maxImportFile+1))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || len(data) > maxImportFile {
		return scriptForm{}, "", &importRefusal{http.StatusRequestEntityTooLarge,
			fmt.Sprintf("%s is larger than %d KiB; a script's body is at most %d KiB.", name, maxImportFile>>10, protocol.MaxScriptBodyBytes>>10)}
	}
	if err != nil {
		return scriptForm{}, "", refuse("The upload could not be read. Try again.")
	}
	f, err := parseImport(name, data)
	return f, name, err
}

// parseImport reads a JSON export, or a raw script whose language its
// extension names.
func parseImport(name string, data []byte) (scriptForm, error) {
	ext := strings.ToLower(path.Ext(name))
	if ext == ".json" {
		return parseExport(name, data)
	}
	lang, ok := rawExtensions[ext]
	if !ok {
		return scriptForm{}, refuse("%s: not a script file. Import a JSON export or a script file (.ps1, .cmd, .bat, .sh, .py, .zsh).", name)
	}
	if len(data) > protocol.MaxScriptBodyBytes {
		return scriptForm{}, refuse("%s is %d bytes; a script's body is at most %d KiB.", name, len(data), protocol.MaxScriptBodyBytes>>10)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return scriptForm{}, refuse("%s is empty.", name)
	}
	if !utf8.Valid(data) {
		return scriptForm{}, refuse("%s is not UTF-8 text. Save it as UTF-8 and import it again.", name)
	}
	f := scriptForm{Name: strings.TrimSuffix(name, path.Ext(name)), Language: lang, Body: string(data),
		Timeout: scriptDuration(protocol.DefaultScriptTimeout), RunAs: protocol.RunAsSystem, Newline: newlineOf(string(data))}
	if lang == protocol.LangCmd {
		f.TargetOS = "windows"
	}
	return f, nil
}

// parseExport reads a script's JSON export. Unknown fields are ignored,
// so that a script as GET /api/v1/scripts/{id} answers imports too.
func parseExport(name string, data []byte) (scriptForm, error) {
	var sf scriptFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&sf); err != nil {
		return scriptForm{}, refuse("%s is not a script export: %v.", name, err)
	}
	if dec.More() {
		return scriptForm{}, refuse("%s is not a script export: more than one JSON value.", name)
	}
	if sf.Language == "" || sf.Body == "" {
		return scriptForm{}, refuse("%s is not a script export: it has no language or no body.", name)
	}
	if sf.Timeout != "" {
		// Shown as typed when wrong: the editor's own check says so on save.
		if d, err := time.ParseDuration(sf.Timeout); err == nil {
			sf.Timeout = scriptDuration(d)
		}
	}
	f := scriptFormOf(store.Script{Name: sf.Name, Description: sf.Description, Category: sf.Category, Language: sf.Language,
		Body: sf.Body, Args: sf.Args, Env: sf.Env, TargetOS: sf.TargetOS, RunAs: sf.RunAs})
	f.Timeout = sf.Timeout
	return f, nil
}
