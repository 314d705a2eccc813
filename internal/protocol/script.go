package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Script runs. The server sends a CommandScript command; the agent answers
// at once on the control channel with TypeScriptStarted when the process
// starts, streams its output as TypeScriptOutput while it runs, and sends
// the command's Result (a ScriptResult) when it ends. The result is kept by
// the agent's command ledger until delivered, so it survives a lost
// connection; live output does not, so the result carries the byte count
// of each stream and the server asks for what it is missing with
// CommandScriptOutput (the agent keeps a run's output until its result is
// forgotten).
const (
	// CommandScript runs a script: args ScriptRun, output ScriptResult.
	CommandScript = "script"
	// CommandScriptKill kills a running script and its process tree: args
	// ScriptKill. The run then ends with ScriptKilled.
	CommandScriptKill = "script_kill"
	// CommandScriptOutput asks the agent to send a finished run's output
	// again from an offset: args ScriptOutputRequest. The output arrives as
	// TypeScriptOutput messages before the command's result.
	CommandScriptOutput = "script_output"

	TypeScriptStarted = "script_started" // agent → server: ScriptStarted
	TypeScriptOutput  = "script_output"  // agent → server: ScriptOutput
)

// Interpreters a script may name.
const (
	LangPowerShell = "powershell" // Windows PowerShell; pwsh elsewhere
	LangCmd        = "cmd"        // Windows only
	LangBash       = "bash"
	LangSh         = "sh"
	LangPython     = "python" // python3, else python
	LangZsh        = "zsh"
)

// Languages lists the interpreters in the order the dashboard offers them.
var Languages = []string{LangPowerShell, LangCmd, LangBash, LangSh, LangPython, LangZsh}

// Who a script runs as.
const (
	RunAsSystem = "system" // SYSTEM on Windows, root elsewhere (the default)
	RunAsUser   = "user"   // the logged-in user, in their session
)

// Streams of a run's output.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// How a run ended (ScriptResult.Status).
const (
	ScriptSucceeded = "succeeded" // exit code 0
	ScriptFailed    = "failed"    // another exit code, or killed by a signal it did not ask for
	ScriptTimedOut  = "timed_out" // killed with its process tree when the timeout passed
	ScriptKilled    = "killed"    // killed on request (CommandScriptKill), or cancelled before it started
	ScriptExpired   = "expired"   // not started by ScriptRun.StartBy; StartedAt is zero
)

// Bounds of script messages. A command is one control message, so the body
// and arguments fit in MaxMessageBytes with room for the envelope.
const (
	MaxScriptBodyBytes     = 48 << 10
	MaxScriptArgs          = 64
	MaxScriptArgBytes      = 4 << 10
	MaxScriptEnv           = 64
	MaxScriptEnvValueBytes = 4 << 10
	MaxScriptTimeout       = 24 * time.Hour
	DefaultScriptTimeout   = 10 * time.Minute
	// DefaultScriptOutput is the default cap of each stream's stored output.
	DefaultScriptOutput = 1 << 20
	// MaxScriptOutput bounds the cap a policy may set.
	MaxScriptOutput = 16 << 20
	// MaxScriptChunk bounds the data of one ScriptOutput message.
	MaxScriptChunk = 32 << 10
	// maxScriptError bounds ScriptResult.Error.
	maxScriptError = 4096
	// maxScriptArgsTotal bounds the arguments and environment together.
	maxScriptArgsTotal = 12 << 10
	// maxScriptRunJSON bounds an encoded ScriptRun: a command message
	// with room for its envelope.
	maxScriptRunJSON = MaxMessageBytes - 2<<10
)

// ScriptRun is the args of CommandScript.
type ScriptRun struct {
	Language string `json:"language"`
	// Body is the script's text; SHA256 is its hash, which the agent checks
	// and the audit log records.
	Body   string `json:"body"`
	SHA256 string `json:"sha256"`
	// Args are passed as an argument vector, never through a shell string.
	Args []string          `json:"args,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
	// Timeout kills the whole process tree when it passes.
	Timeout Duration `json:"timeout"`
	// RunAs is RunAsSystem (default when empty) or RunAsUser.
	RunAs string `json:"run_as,omitempty"`
	// MaxOutput caps each stream's kept output in bytes; what passes it is
	// dropped and the stream marked truncated. 0 means DefaultScriptOutput.
	MaxOutput int64 `json:"max_output,omitempty"`
	// StartBy is when the run expires if it has not started (the job's
	// expiry for an agent that was offline): the agent then answers a
	// ScriptExpired result instead of running it. Zero: no limit.
	StartBy time.Time `json:"start_by,omitzero"`
}

// ScriptKill is the args of CommandScriptKill.
type ScriptKill struct {
	// CommandID is the CommandScript command to kill.
	CommandID string `json:"command_id"`
}

// ScriptOutputRequest is the args of CommandScriptOutput.
type ScriptOutputRequest struct {
	CommandID string `json:"command_id"`
	Stream    string `json:"stream"`
	Offset    int64  `json:"offset"`
}

// ScriptStarted says a run's process started.
type ScriptStarted struct {
	CommandID string    `json:"command_id"`
	StartedAt time.Time `json:"started_at"`
}

// ScriptOutput is a piece of a run's output: Data are the bytes of Stream
// from Offset (raw bytes, base64 in JSON: output need not be UTF-8).
type ScriptOutput struct {
	CommandID string `json:"command_id"`
	Stream    string `json:"stream"`
	Offset    int64  `json:"offset"`
	Data      []byte `json:"data"`
}

// ScriptStream describes one stream of a finished run.
type ScriptStream struct {
	// Bytes is how much of the stream was kept (at most the cap).
	Bytes int64 `json:"bytes"`
	// Truncated says the script wrote more than the cap.
	Truncated bool `json:"truncated,omitempty"`
	// Data is the whole kept stream (Bytes bytes) of a result sent
	// Inline.
	Data []byte `json:"data,omitempty"`
}

// MaxInlineOutput bounds ScriptStream.Data: both streams, base64-encoded,
// fit one result message with room for the rest.
const MaxInlineOutput = 8 << 10

// ScriptResult is the output of a CommandScript result. A run that could
// not start (no such interpreter, nobody logged in to run as) is a result
// with status error instead, its reason in Result.Error.
type ScriptResult struct {
	Status     string       `json:"status"`
	ExitCode   int          `json:"exit_code"`
	StartedAt  time.Time    `json:"started_at"`
	FinishedAt time.Time    `json:"finished_at"`
	Stdout     ScriptStream `json:"stdout"`
	Stderr     ScriptStream `json:"stderr"`
	// Error says more about a run that did not succeed (the timeout that
	// passed, the signal that killed it).
	Error string `json:"error,omitempty"`
	// Inline says the agent sent no start and no output messages for the
	// run: its output is in the streams' Data. A run that ends within
	// moments with little output sends only its result, one message and
	// one write on the server instead of three.
	Inline bool `json:"inline,omitempty"`
}

// ScriptSHA256 is the hash a ScriptRun carries for body.
func ScriptSHA256(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// ValidLanguage reports whether lang is an interpreter scripts may name.
func ValidLanguage(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// Validate checks a run's bounds; both the server (before sending) and the
// agent (on receipt) call it.
func (r ScriptRun) Validate() error {
	if !ValidLanguage(r.Language) {
		return fmt.Errorf("language %q is not one of %v", truncate(r.Language), Languages)
	}
	if len(r.Body) > MaxScriptBodyBytes {
		return fmt.Errorf("body is %d bytes, limit %d", len(r.Body), MaxScriptBodyBytes)
	}
	if r.Body == "" {
		return errors.New("body is empty")
	}
	if r.SHA256 != ScriptSHA256(r.Body) {
		return errors.New("sha256 does not match the body")
	}
	if len(r.Args) > MaxScriptArgs {
		return fmt.Errorf("%d arguments, limit %d", len(r.Args), MaxScriptArgs)
	}
	total := 0
	for i, a := range r.Args {
		if len(a) > MaxScriptArgBytes {
			return fmt.Errorf("argument %d is %d bytes, limit %d", i+1, len(a), MaxScriptArgBytes)
		}
		if err := checkArg(a); err != nil {
			return fmt.Errorf("argument %d: %w", i+1, err)
		}
		total += len(a)
	}
	if len(r.Env) > MaxScriptEnv {
		return fmt.Errorf("%d environment variables, limit %d", len(r.Env), MaxScriptEnv)
	}
	for k, v := range r.Env {
		if !ValidEnvName(k) {
			return fmt.Errorf("environment variable name %q: letters, digits and _ only, not starting with a digit, at most 128 bytes", truncate(k))
		}
		if len(v) > MaxScriptEnvValueBytes {
			return fmt.Errorf("environment variable %s is %d bytes, limit %d", k, len(v), MaxScriptEnvValueBytes)
		}
		if err := checkArg(v); err != nil {
			return fmt.Errorf("environment variable %s: %w", k, err)
		}
		total += len(k) + len(v)
	}
	if total > maxScriptArgsTotal {
		return fmt.Errorf("arguments and environment are %d bytes, limit %d", total, maxScriptArgsTotal)
	}
	if r.Timeout <= 0 || time.Duration(r.Timeout) > MaxScriptTimeout {
		return fmt.Errorf("timeout must be between 1s and %v", MaxScriptTimeout)
	}
	switch r.RunAs {
	case "", RunAsSystem, RunAsUser:
	default:
		return fmt.Errorf("run_as must be %s or %s", RunAsSystem, RunAsUser)
	}
	if r.MaxOutput < 0 || r.MaxOutput > MaxScriptOutput {
		return fmt.Errorf("max_output must be between 0 and %d", MaxScriptOutput)
	}
	// JSON escaping can grow a body of quotes and control characters past
	// what one control message carries.
	if b, err := json.Marshal(r); err != nil || len(b) > maxScriptRunJSON {
		return fmt.Errorf("the script and its arguments take %d bytes once encoded, limit %d", len(b), maxScriptRunJSON)
	}
	return nil
}

// OutputCap is the cap of each stream in bytes.
func (r ScriptRun) OutputCap() int64 {
	if r.MaxOutput == 0 {
		return DefaultScriptOutput
	}
	return r.MaxOutput
}

// checkArg refuses what no OS passes in an argument or environment value:
// a NUL byte. Any other byte, quotes, semicolons and non-ASCII included,
// reaches the script unchanged.
func checkArg(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return errors.New("contains a NUL byte")
		}
	}
	return nil
}

// ValidEnvName reports whether name can be an environment variable a
// script gets: [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes.
func ValidEnvName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// DecodeScriptRun parses and checks CommandScript args.
func DecodeScriptRun(data json.RawMessage) (ScriptRun, error) {
	var r ScriptRun
	if err := strictUnmarshal(data, &r); err != nil {
		return ScriptRun{}, fmt.Errorf("decode script run: %w", err)
	}
	if err := r.Validate(); err != nil {
		return ScriptRun{}, fmt.Errorf("decode script run: %w", err)
	}
	return r, nil
}

// DecodeScriptKill parses CommandScriptKill args.
func DecodeScriptKill(data json.RawMessage) (ScriptKill, error) {
	var k ScriptKill
	if err := strictUnmarshal(data, &k); err != nil {
		return ScriptKill{}, fmt.Errorf("decode script kill: %w", err)
	}
	if err := checkCommandID(k.CommandID); err != nil {
		return ScriptKill{}, fmt.Errorf("decode script kill: %w", err)
	}
	return k, nil
}

// DecodeScriptOutputRequest parses CommandScriptOutput args.
func DecodeScriptOutputRequest(data json.RawMessage) (ScriptOutputRequest, error) {
	var r ScriptOutputRequest
	if err := strictUnmarshal(data, &r); err != nil {
		return ScriptOutputRequest{}, fmt.Errorf("decode script output request: %w", err)
	}
	if err := checkCommandID(r.CommandID); err != nil {
		return ScriptOutputRequest{}, fmt.Errorf("decode script output request: %w", err)
	}
	if err := checkStream(r.Stream); err != nil {
		return ScriptOutputRequest{}, fmt.Errorf("decode script output request: %w", err)
	}
	if r.Offset < 0 || r.Offset > MaxScriptOutput {
		return ScriptOutputRequest{}, fmt.Errorf("decode script output request: offset must be between 0 and %d", MaxScriptOutput)
	}
	return r, nil
}

// DecodeScriptStarted parses an agent's TypeScriptStarted.
func DecodeScriptStarted(data json.RawMessage) (ScriptStarted, error) {
	var s ScriptStarted
	if err := strictUnmarshal(data, &s); err != nil {
		return ScriptStarted{}, fmt.Errorf("decode script started: %w", err)
	}
	if err := checkCommandID(s.CommandID); err != nil {
		return ScriptStarted{}, fmt.Errorf("decode script started: %w", err)
	}
	if s.StartedAt.IsZero() {
		return ScriptStarted{}, errors.New("decode script started: started_at is required")
	}
	return s, nil
}

// DecodeScriptOutput parses an agent's TypeScriptOutput.
func DecodeScriptOutput(data json.RawMessage) (ScriptOutput, error) {
	var o ScriptOutput
	if err := strictUnmarshal(data, &o); err != nil {
		return ScriptOutput{}, fmt.Errorf("decode script output: %w", err)
	}
	if err := checkCommandID(o.CommandID); err != nil {
		return ScriptOutput{}, fmt.Errorf("decode script output: %w", err)
	}
	if err := checkStream(o.Stream); err != nil {
		return ScriptOutput{}, fmt.Errorf("decode script output: %w", err)
	}
	if len(o.Data) == 0 || len(o.Data) > MaxScriptChunk {
		return ScriptOutput{}, fmt.Errorf("decode script output: data must be 1 to %d bytes", MaxScriptChunk)
	}
	if o.Offset < 0 || o.Offset+int64(len(o.Data)) > MaxScriptOutput {
		return ScriptOutput{}, fmt.Errorf("decode script output: offset and data must stay within %d bytes", MaxScriptOutput)
	}
	return o, nil
}

// DecodeScriptResult parses the output of a CommandScript result.
func DecodeScriptResult(data json.RawMessage) (ScriptResult, error) {
	var r ScriptResult
	if err := strictUnmarshal(data, &r); err != nil {
		return ScriptResult{}, fmt.Errorf("decode script result: %w", err)
	}
	switch r.Status {
	case ScriptSucceeded, ScriptFailed, ScriptTimedOut, ScriptKilled:
		if r.StartedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) {
			return ScriptResult{}, errors.New("decode script result: started_at is required and finished_at must not be before it")
		}
	case ScriptExpired:
		if !r.StartedAt.IsZero() || r.Stdout.Bytes != 0 || r.Stderr.Bytes != 0 {
			return ScriptResult{}, errors.New("decode script result: an expired run has no start and no output")
		}
	default:
		return ScriptResult{}, fmt.Errorf("decode script result: unknown status %q", truncate(r.Status))
	}
	for _, s := range []ScriptStream{r.Stdout, r.Stderr} {
		if s.Bytes < 0 || s.Bytes > MaxScriptOutput {
			return ScriptResult{}, fmt.Errorf("decode script result: stream bytes must be between 0 and %d", MaxScriptOutput)
		}
		switch {
		case r.Inline && (s.Bytes > MaxInlineOutput || int64(len(s.Data)) != s.Bytes):
			return ScriptResult{}, fmt.Errorf("decode script result: inline data must be the whole stream (bytes) and at most %d bytes", MaxInlineOutput)
		case !r.Inline && len(s.Data) > 0:
			return ScriptResult{}, errors.New("decode script result: data without inline")
		}
	}
	if err := checkLongText("error", r.Error, maxScriptError, true); err != nil {
		return ScriptResult{}, fmt.Errorf("decode script result: %w", err)
	}
	return r, nil
}

func checkCommandID(id string) error {
	if id == "" {
		return errors.New("command_id is required")
	}
	return checkToken("command_id", id, maxIDLen)
}

func checkStream(s string) error {
	if s != StreamStdout && s != StreamStderr {
		return fmt.Errorf("stream must be %s or %s", StreamStdout, StreamStderr)
	}
	return nil
}
