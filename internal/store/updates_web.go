package store

import (
	"context"
	"fmt"
)

// UpdateChannelNames lists every release channel in use, by a release or
// set on a client, site or agent, sorted, for the dashboard's selectors.
func (db *DB) UpdateChannelNames(ctx context.Context) ([]string, error) {
	return db.queryStrings(ctx, "list update channels", `SELECT channel FROM releases
		UNION SELECT update_channel FROM clients WHERE update_channel <> ''
		UNION SELECT update_channel FROM sites WHERE update_channel <> ''
		UNION SELECT update_channel FROM agents WHERE update_channel <> ''
		ORDER BY 1`)
}

// queryStrings runs a query of one text column and returns its values,
// an empty list for no row; what names the query in errors.
func (db *DB) queryStrings(ctx context.Context, what, query string, args ...any) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
