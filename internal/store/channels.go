package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// DefaultUpdateChannel is the channel of an agent for which no level names
// one.
const DefaultUpdateChannel = "stable"

// SetUpdateChannel sets the release channel of a client, site or agent;
// "" makes it inherit again.
func (t *Tx) SetUpdateChannel(ctx context.Context, level, id, channel string) error {
	var table string
	switch level {
	case LevelClient:
		table = "clients"
	case LevelSite:
		table = "sites"
	case LevelAgent:
		table = "agents"
	default:
		return fmt.Errorf("set update channel: unknown level %q", level)
	}
	res, err := t.q.ExecContext(ctx, `UPDATE `+table+` SET update_channel = $1 WHERE id = $2`, channel, id)
	if err != nil {
		return fmt.Errorf("set update channel of %s %s: %w", level, id, err)
	}
	return expectOne(res, level+" "+id)
}

// UpdateChannel is an agent's effective release channel and where it
// comes from.
type UpdateChannel struct {
	Channel string `json:"channel"`
	// Source is the level that set it: agent, site, client or default.
	Source     string `json:"source"`
	SourceID   string `json:"source_id,omitempty"`
	SourceName string `json:"source_name,omitempty"`
}

// EffectiveUpdateChannel resolves an agent's channel: agent, then site,
// then client, then the default.
func (db *DB) EffectiveUpdateChannel(ctx context.Context, agentID string) (UpdateChannel, error) {
	var (
		agentCh, siteCh, clientCh  string
		hostname, siteID, siteName string
		clientID, clientName       string
	)
	err := db.sql.QueryRowContext(ctx, `SELECT a.update_channel, a.hostname, s.id, s.name, s.update_channel, c.id, c.name, c.update_channel
		FROM agents a JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = a.client_id WHERE a.id = $1`, agentID).
		Scan(&agentCh, &hostname, &siteID, &siteName, &siteCh, &clientID, &clientName, &clientCh)
	if errors.Is(err, sql.ErrNoRows) {
		return UpdateChannel{}, fmt.Errorf("agent %s: %w", agentID, ErrNotFound)
	}
	if err != nil {
		return UpdateChannel{}, fmt.Errorf("effective update channel of %s: %w", agentID, err)
	}
	switch {
	case agentCh != "":
		return UpdateChannel{Channel: agentCh, Source: LevelAgent, SourceID: agentID, SourceName: hostname}, nil
	case siteCh != "":
		return UpdateChannel{Channel: siteCh, Source: LevelSite, SourceID: siteID, SourceName: siteName}, nil
	case clientCh != "":
		return UpdateChannel{Channel: clientCh, Source: LevelClient, SourceID: clientID, SourceName: clientName}, nil
	}
	return UpdateChannel{Channel: DefaultUpdateChannel, Source: LevelDefault}, nil
}

// UpdateChannelOf returns the channel set on a client, site or agent
// itself ("" when it inherits).
func (db *DB) UpdateChannelOf(ctx context.Context, level, id string) (string, error) {
	var table string
	switch level {
	case LevelClient:
		table = "clients"
	case LevelSite:
		table = "sites"
	case LevelAgent:
		table = "agents"
	default:
		return "", fmt.Errorf("update channel: unknown level %q", level)
	}
	var ch string
	err := db.sql.QueryRowContext(ctx, `SELECT update_channel FROM `+table+` WHERE id = $1`, id).Scan(&ch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%s %s: %w", level, id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("update channel of %s %s: %w", level, id, err)
	}
	return ch, nil
}
