package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// UpdateService is the STACKIT-compatible update service of one server: enabled or not,
// the update policy it was enabled with and the Default Update Schedule made then.
type UpdateService struct {
	ServerID string
	Group    string
	Enabled  bool
	PolicyID string
	// ScheduleID is the run-time schedule made from the policy on enable (0: none).
	ScheduleID int64
	UpdatedBy  string
	Updated    time.Time
}

// PutUpdateService writes (inserts or replaces) a server's update service.
func (s *Store) PutUpdateService(ctx context.Context, u UpdateService) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO update_services (server_id, grp, enabled, policy_id, schedule_id, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (server_id) DO UPDATE SET grp = excluded.grp, enabled = excluded.enabled, policy_id = excluded.policy_id,
		schedule_id = excluded.schedule_id, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		u.ServerID, u.Group, boolInt(u.Enabled), u.PolicyID, u.ScheduleID, u.UpdatedBy, fmtTime(u.Updated.UTC()))
	if err != nil {
		return fmt.Errorf("record the update service of server %s: %w", u.ServerID, err)
	}
	return nil
}

// GetUpdateService reads a server's update service; ErrNotFound when it was never
// enabled or disabled.
func (s *Store) GetUpdateService(ctx context.Context, serverID string) (UpdateService, error) {
	u := UpdateService{ServerID: serverID}
	var enabled int64
	var updated string
	err := s.db.QueryRowContext(ctx, `SELECT grp, enabled, policy_id, schedule_id, updated_by, updated_at FROM update_services WHERE server_id = ?`,
		serverID).Scan(&u.Group, &enabled, &u.PolicyID, &u.ScheduleID, &u.UpdatedBy, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("update service of server %s: %w", serverID, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read the update service of server %s: %w", serverID, err)
	}
	u.Enabled, u.Updated = enabled != 0, parseTime(updated)
	return u, nil
}

// SetScheduleName records the display name of run-time schedule id, made for server
// through the STACKIT-compatible API.
func (s *Store) SetScheduleName(ctx context.Context, id int64, serverID, name string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO update_schedule_names (schedule_id, server_id, name) VALUES (?, ?, ?)
		ON CONFLICT (schedule_id) DO UPDATE SET server_id = excluded.server_id, name = excluded.name`, id, serverID, name)
	if err != nil {
		return fmt.Errorf("name schedule %d: %w", id, err)
	}
	return nil
}

// ScheduleNames returns the display names recorded for server's schedules, by id.
func (s *Store) ScheduleNames(ctx context.Context, serverID string) (map[int64]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT schedule_id, name FROM update_schedule_names WHERE server_id = ?`, serverID)
	if err != nil {
		return nil, fmt.Errorf("read the schedule names of server %s: %w", serverID, err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("read the schedule names of server %s: %w", serverID, err)
		}
		out[id] = name
	}
	return out, rows.Err()
}

// DeleteScheduleName forgets schedule id's display name.
func (s *Store) DeleteScheduleName(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM update_schedule_names WHERE schedule_id = ?`, id); err != nil {
		return fmt.Errorf("forget the name of schedule %d: %w", id, err)
	}
	return nil
}

// ServerSlot finds the group and slot of server id: the slot it is in now, else the slot
// a rollout replaced it in (or put it in) most recently. ErrNotFound when neither.
func (s *Store) ServerSlot(ctx context.Context, id string) (group string, slot int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT grp, slot FROM slots WHERE server_id = ?`, id).Scan(&group, &slot)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.db.QueryRowContext(ctx, `SELECT r.grp, st.slot FROM steps st JOIN rollouts r ON r.id = st.rollout_id
			WHERE st.old_server_id = ? OR st.new_server_id = ? ORDER BY st.updated_at DESC LIMIT 1`, id, id).Scan(&group, &slot)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, fmt.Errorf("server %s: in no slot now or before: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", 0, fmt.Errorf("find the slot of server %s: %w", id, err)
	}
	return group, slot, nil
}
