package catalog

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/remint-dev/remint/internal/debian"
)

// TestCandidateLifecycle drives one family through the image pipeline's catalog moves,
// step by step, checking every image's state and "latest" after each.
func TestCandidateLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	cat := New(g)
	pkgs := []debian.Package{{Name: "demo-libssl", Version: "1.0-1", Arch: "all", Suite: "bookworm"}}
	ids := map[string]string{}

	steps := []struct {
		name string
		do   func(t *testing.T) error
		// want maps image key → state ("deleted" when gone); latest is the key of the
		// active image Latest returns ("" for none).
		want   map[string]State
		latest string
		err    string
	}{
		{
			name: "first build's snapshot becomes a candidate: nothing is latest yet",
			do: func(t *testing.T) error {
				ids["a"] = g.add("debian-12-build-a", nil)
				_, err := cat.AddCandidate(ctx, "debian-12", ids["a"], Build{ID: "a", Packages: pkgs}, nov)
				return err
			},
			want: map[string]State{"a": Candidate},
		},
		{
			name: "verification passes, promote: active",
			do: func(t *testing.T) error {
				if _, err := cat.MarkVerification(ctx, ids["a"], true, "healthy", nov); err != nil {
					return err
				}
				_, _, err := cat.Promote(ctx, ids["a"], nov)
				return err
			},
			want: map[string]State{"a": Active}, latest: "a",
		},
		{
			name: "second build fails verification: stays a candidate marked failed, latest unchanged",
			do: func(t *testing.T) error {
				ids["b"] = g.add("debian-12-build-b", nil)
				if _, err := cat.AddCandidate(ctx, "debian-12", ids["b"], Build{ID: "b"}, nov); err != nil {
					return err
				}
				e, err := cat.MarkVerification(ctx, ids["b"], false, "health check of group web: not healthy\nafter 5m", nov)
				require.Equal(t, VerificationFailed, e.Image.Properties[PropVerification])
				require.Equal(t, "health check of group web: not healthy after 5m", e.Image.Properties[PropVerificationReason])
				return err
			},
			want: map[string]State{"a": Active, "b": Candidate}, latest: "a",
		},
		{
			name: "a failed candidate cannot be promoted by the pipeline's Promote… but the operator may",
			do: func(t *testing.T) error {
				_, notes, err := cat.PromoteVersion(ctx, "debian-12", Version{2026, 11, 2}, nov)
				require.Contains(t, notes[0], "its verification had failed")
				return err
			},
			want: map[string]State{"a": Deprecated, "b": Active}, latest: "b",
		},
		{
			name: "promoting an active version is refused",
			do: func(t *testing.T) error {
				_, _, err := cat.PromoteVersion(ctx, "debian-12", Version{2026, 11, 2}, nov)
				return err
			},
			want: map[string]State{"a": Deprecated, "b": Active}, latest: "b",
			err: "only a candidate can be promoted",
		},
		{
			name: "an unverified candidate is deleted (failed build); deleting an active image this way is refused",
			do: func(t *testing.T) error {
				ids["c"] = g.add("debian-12-build-c", nil)
				if _, err := cat.AddCandidate(ctx, "debian-12", ids["c"], Build{ID: "c"}, dec); err != nil {
					return err
				}
				if err := cat.DeleteCandidate(ctx, ids["c"]); err != nil {
					return err
				}
				return cat.DeleteCandidate(ctx, ids["b"])
			},
			want: map[string]State{"a": Deprecated, "b": Active, "c": "deleted"}, latest: "b",
			err: "it is active, not a candidate",
		},
		{
			name: "revoking the active version re-points latest to the deprecated one",
			do: func(t *testing.T) error {
				_, err := cat.Revoke(ctx, "debian-12", "2026.11.2", "bad", dec)
				return err
			},
			want: map[string]State{"a": Active, "b": Revoked}, latest: "a",
		},
		{
			name: "retention never deletes an image in use",
			do: func(t *testing.T) error {
				for _, k := range []string{"d", "e"} {
					ids[k] = g.add("debian-12-build-"+k, nil)
					if _, err := cat.AddCandidate(ctx, "debian-12", ids[k], Build{ID: k}, dec); err != nil {
						return err
					}
					if _, _, err := cat.Promote(ctx, ids[k], dec); err != nil {
						return err
					}
				}
				_, err := cat.Retire(ctx, "debian-12", RetireOptions{Keep: 1, InUse: func(id string) bool { return id == ids["a"] }}, dec)
				return err
			},
			want: map[string]State{"a": Retired, "b": Revoked, "d": "deleted", "e": Active}, latest: "e",
		},
	}
	for _, st := range steps {
		err := st.do(t)
		if st.err != "" {
			require.ErrorContains(t, err, st.err, st.name)
		} else {
			require.NoError(t, err, st.name)
		}
		for k, want := range st.want {
			assert.Equal(t, string(want), g.state(ids[k]), "%s: image %s", st.name, k)
		}
		l, err := cat.Latest(ctx, "debian-12")
		if st.latest == "" {
			assert.ErrorIs(t, err, ErrNoActiveImage, st.name)
		} else if assert.NoError(t, err, st.name) {
			assert.Equal(t, ids[st.latest], l.Image.ID, st.name)
		}
	}
}

func TestCandidatePackageListAndInheritedProperties(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	cat := New(g)
	var pkgs []debian.Package
	for i := range 400 {
		pkgs = append(pkgs, debian.Package{Name: "pkg" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Version: "1.2.3-4+deb12u1", Arch: "amd64", Suite: "bookworm-security"})
	}
	base := g.add("debian-12-2026.11.1", nil)
	_, err := cat.AddCandidate(ctx, "debian-12", base, Build{ID: "x", Packages: pkgs}, nov)
	require.NoError(t, err)
	_, _, err = cat.Promote(ctx, base, nov)
	require.NoError(t, err)

	// A snapshot of a server booted from the catalog image inherits its properties, as
	// Nova copies them: adding it replaces them instead of refusing it as a duplicate.
	inherited := map[string]string{"base_image_ref": base}
	for k, v := range g.images[base].Properties {
		inherited[k] = v
	}
	snap := g.add("packer-build", inherited)
	e, err := cat.AddCandidate(ctx, "debian-12", snap, Build{ID: "y"}, nov)
	require.NoError(t, err)
	assert.Equal(t, "2026.11.2", e.Version.String())
	assert.Equal(t, Candidate, e.State)
	_, err = Packages(e)
	require.ErrorIs(t, err, ErrNoPackageList, "the inherited package list is not the new image's")
	for k := range e.Image.Properties {
		assert.NotContains(t, k, PropPackagesChunk)
	}

	// The base's list survives the round trip; a changed chunk is caught by the digest.
	be, err := cat.Latest(ctx, "debian-12")
	require.NoError(t, err)
	got, err := Packages(be)
	require.NoError(t, err)
	assert.Equal(t, pkgs[0], got[0])
	assert.Len(t, got, 400)
	be.Image.Properties[PropPackagesChunk+"01"] = "AAAA" + be.Image.Properties[PropPackagesChunk+"01"][4:]
	_, err = Packages(be)
	assert.Error(t, err)

	// A real duplicate (not inherited) is still refused.
	_, err = cat.AddCandidate(ctx, "debian-12", base, Build{}, nov)
	assert.ErrorContains(t, err, "already in the catalog")
}

// An out-of-cycle build's reason is recorded on the candidate (bounded to what a Glance
// property holds); a build without one records none.
func TestCandidateBuildReason(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newFakeGlance()
	cat := New(g)
	e, err := cat.AddCandidate(ctx, "debian-12", g.add("a", nil), Build{ID: "a", Reason: "CVE-2026-1234 in openssl"}, nov)
	require.NoError(t, err)
	assert.Equal(t, "CVE-2026-1234 in openssl", e.Image.Properties[PropBuildReason])
	e, err = cat.AddCandidate(ctx, "debian-12", g.add("b", nil), Build{ID: "b", Reason: strings.Repeat("x", 400)}, nov)
	require.NoError(t, err)
	assert.Len(t, []rune(e.Image.Properties[PropBuildReason]), 251, "250 characters and an ellipsis")
	e, err = cat.AddCandidate(ctx, "debian-12", g.add("c", nil), Build{ID: "c"}, nov)
	require.NoError(t, err)
	assert.NotContains(t, e.Image.Properties, PropBuildReason)
}
