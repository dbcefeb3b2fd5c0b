package store

import (
	"context"
	"fmt"
)

// DeleteAddress forgets the recorded failover address of a slot (slot -1: the group's
// address), e.g. because its floating IP no longer exists. Nothing in the cloud changes.
func (s *Store) DeleteAddress(ctx context.Context, group string, slot int) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM addresses WHERE grp = ? AND slot = ?`, group, slot); err != nil {
		return fmt.Errorf("forget address of %s slot %d: %w", group, slot, err)
	}
	return nil
}
