package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrAlarm says the gate's query is above its maximum.
var ErrAlarm = errors.New("alarm")

// Gate is an alarm gate: Query, evaluated now, must not exceed Max in any series. An
// empty result passes (no series: nothing to alarm on, as when no request failed), and
// so does NaN (a ratio over no traffic); a failed query fails the gate, since it
// proves nothing.
type Gate struct {
	Client Client
	Query  string
	Max    float64
}

// Check evaluates the gate once.
func (g Gate) Check(ctx context.Context) error {
	samples, err := g.Client.Query(ctx, g.Query, time.Time{})
	if err != nil {
		return err
	}
	for _, s := range samples {
		if !math.IsNaN(s.Value) && s.Value > g.Max {
			return fmt.Errorf("%s%s = %g > max %g: %w", g.Query, seriesName(s), s.Value, g.Max, ErrAlarm)
		}
	}
	return nil
}

func seriesName(s Sample) string {
	if len(s.Metric) == 0 {
		return ""
	}
	return " " + s.String()
}

// String describes the gate for plans and logs.
func (g Gate) String() string {
	return fmt.Sprintf("%s at %s must stay <= %g", g.Query, g.Client.BaseURL, g.Max)
}
