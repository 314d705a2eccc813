package store

import (
	"context"
	"fmt"
)

// UpdateChannelNames lists every release channel in use, by a release or
// set on a client, site or agent, sorted, for the dashboard's selectors.
func (db *DB) UpdateChannelNames(ctx context.Context) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT channel FROM releases
		UNION SELECT update_channel FROM clients WHERE update_channel <> ''
		UNION SELECT update_channel FROM sites WHERE update_channel <> ''
		UNION SELECT update_channel FROM agents WHERE update_channel <> ''
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list update channels: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("list update channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
