package inplace

import (
	"regexp"
	"slices"
	"strings"
)

// Metadata keys remint tags servers with (the same as package failover's).
const (
	metaGroup = "remint_group"
)

// ClaimsGroup says whether a server belongs to the group when the state records none of
// its servers: tagged remint_group=<group>, or named <group>-<n>[-…] with no other
// group's tag. Pure.
func ClaimsGroup(group, name string, metadata map[string]string) bool {
	if g := metadata[metaGroup]; g != "" {
		return g == group
	}
	return regexp.MustCompile(`^` + regexp.QuoteMeta(group) + `-[0-9]+(-.*)?$`).MatchString(name)
}

// Select keeps the servers named in names (all of them when names is empty) and reports
// the names that are not among servers. Pure.
func Select(servers []Server, names []string) (kept []Server, unknown []string) {
	if len(names) == 0 {
		return servers, nil
	}
	for _, n := range names {
		i := slices.IndexFunc(servers, func(s Server) bool { return s.Name == n || s.ID == n })
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		if !slices.ContainsFunc(kept, func(s Server) bool { return s.ID == servers[i].ID }) {
			kept = append(kept, servers[i])
		}
	}
	return kept, unknown
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
