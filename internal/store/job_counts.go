package store

import (
	"context"
	"fmt"
)

// JobCount is how many jobs of a kind are in one of River's states.
type JobCount struct {
	Kind       string
	RiverState string // river_job.state: available, running, completed, discarded, cancelled, …
	Count      int
}

// JobCounts counts remint's jobs by kind and River state, joining the job records with
// River's rows (river_job lives in the same database, migrated by River).
func (s *Store) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT j.kind, r.state, COUNT(*) FROM jobs j JOIN river_job r ON r.id = j.id GROUP BY j.kind, r.state ORDER BY j.kind, r.state`)
	if err != nil {
		return nil, fmt.Errorf("count jobs by kind and state: %w", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.Kind, &c.RiverState, &c.Count); err != nil {
			return nil, fmt.Errorf("count jobs by kind and state: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
