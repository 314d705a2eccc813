package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// StateFile is the name of the identities file in Config.StateDir.
const StateFile = "agents.json"

const stateVersion = 1

// Identity is an enrolled agent's credentials.
type Identity struct {
	Index  int    `json:"index"`
	ID     string `json:"agent_id"`
	Secret string `json:"agent_secret"`
}

type stateDoc struct {
	Version int        `json:"version"`
	Agents  []Identity `json:"agents"`
}

// loadState reads the identities saved in dir, keyed by agent index. A
// missing file is an empty state.
func loadState(dir string) (map[int]Identity, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int]Identity{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if doc.Version != stateVersion {
		return nil, fmt.Errorf("read state %s: version %d, want %d", path, doc.Version, stateVersion)
	}
	ids := make(map[int]Identity, len(doc.Agents))
	for _, id := range doc.Agents {
		if id.Index < 0 || id.ID == "" || id.Secret == "" {
			return nil, fmt.Errorf("read state %s: incomplete identity at index %d", path, id.Index)
		}
		ids[id.Index] = id
	}
	return ids, nil
}

// saveState writes identities to dir atomically (temporary file, then
// rename), readable by the owner only: they are agent secrets.
func saveState(dir string, ids []Identity) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	b, err := json.MarshalIndent(stateDoc{Version: stateVersion, Agents: ids}, "", "\t")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+StateFile+"-*") // 0600
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
