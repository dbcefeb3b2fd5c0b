package inplace

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBudget(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Budget{"0": {}, "3": {Count: 3}, "25%": {Percent: 25, IsPercent: true}, "0%": {IsPercent: true}} {
		got, err := ParseBudget(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "x", "101%", "5.5", "%"} {
		_, err := ParseBudget(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, 2, Budget{Percent: 25, IsPercent: true}.Allowed(10))
	assert.Equal(t, 0, Budget{Percent: 25, IsPercent: true}.Allowed(3))
}

// simulate drives a roll where servers finish in the given order of indexes (a
// scheduler's view), failing those in fail; it returns the trace.
func simulate(total, conc int, b Budget, fail map[int]bool, rng *rand.Rand) (trace []string, maxRunning int, started []int) {
	r := NewRoll(total, conc, b)
	var inflight []int
	for !r.Done() {
		for {
			i, ok := r.Next()
			if !ok {
				break
			}
			inflight = append(inflight, i)
			started = append(started, i)
			trace = append(trace, fmt.Sprintf("start %d", i))
		}
		maxRunning = max(maxRunning, r.Running())
		if len(inflight) == 0 {
			break
		}
		k := 0
		if rng != nil {
			k = rng.IntN(len(inflight))
		}
		i := inflight[k]
		inflight = append(inflight[:k], inflight[k+1:]...)
		r.Finish(!fail[i])
		trace = append(trace, fmt.Sprintf("end %d ok=%v", i, !fail[i]))
	}
	return trace, maxRunning, started
}

func TestRollOrderAndBudget(t *testing.T) {
	t.Parallel()
	trace, maxRunning, _ := simulate(5, 2, Budget{}, map[int]bool{1: true}, nil)
	assert.Equal(t, 2, maxRunning)
	// Server 1 fails while 2 is in progress: 2 finishes, nothing new starts.
	assert.Equal(t, "start 0, start 1, end 0 ok=true, start 2, end 1 ok=false, end 2 ok=true", strings.Join(trace, ", "))

	trace, _, _ = simulate(4, 1, Budget{Count: 1}, map[int]bool{0: true, 2: true}, nil)
	assert.Equal(t, "start 0, end 0 ok=false, start 1, end 1 ok=true, start 2, end 2 ok=false", strings.Join(trace, ", "),
		"one failure is tolerated, the second stops the roll")

	_, _, started := simulate(10, 3, Budget{Percent: 20, IsPercent: true}, map[int]bool{}, nil)
	assert.Len(t, started, 10, "no failure: every server runs")
}

// TestRollInvariants: over random finish orders and failures, never more than
// concurrency in progress, every server started at most once, and once the budget is
// spent no server starts.
func TestRollInvariants(t *testing.T) {
	t.Parallel()
	for seed := range 200 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		total, conc := 1+rng.IntN(20), 1+rng.IntN(5)
		b := Budget{Count: rng.IntN(3)}
		fail := map[int]bool{}
		for i := range total {
			fail[i] = rng.IntN(4) == 0
		}
		trace, maxRunning, started := simulate(total, conc, b, fail, rng)
		require.LessOrEqual(t, maxRunning, conc, "seed %d", seed)
		seen := map[int]bool{}
		for _, i := range started {
			require.False(t, seen[i], "seed %d: server %d started twice", seed, i)
			seen[i] = true
		}
		failed := 0
		for _, line := range trace {
			if strings.HasPrefix(line, "start") {
				require.LessOrEqual(t, failed, b.Count, "seed %d: %s after the budget was spent: %v", seed, line, trace)
			}
			if strings.HasSuffix(line, "ok=false") {
				failed++
			}
		}
		if failed <= b.Count {
			require.Len(t, started, total, "seed %d: budget not spent, every server runs", seed)
		}
	}
}
