package sim

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Nova flavors, keypairs, limits and availability zones.

// SetLimits replaces the project's compute quotas (negative values mean unlimited).
func (s *Sim) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.limits = l
}

// ---- flavors ----

// sortedFlavorsLocked orders flavors by id, numerically when both ids are numbers (as
// Nova's flavorid ordering reads for numeric ids).
func (s *Sim) sortedFlavorsLocked() []*Flavor {
	out := make([]*Flavor, 0, len(s.st.flavors))
	for _, f := range s.st.flavors {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := strconv.Atoi(out[i].ID)
		b, errB := strconv.Atoi(out[j].ID)
		if errA == nil && errB == nil {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (s *Sim) flavorView(f *Flavor, mv microversion, detail bool) map[string]any {
	v := map[string]any{"id": f.ID, "name": f.Name, "links": s.novaLinks("flavors", f.ID)}
	if mv.atLeast(55) {
		v["description"] = nil
	}
	if !detail {
		return v
	}
	var swap any = ""
	if f.Swap > 0 {
		swap = f.Swap
	}
	rxtx := f.RxTxFactor
	if rxtx == 0 {
		rxtx = 1.0
	}
	v["ram"], v["disk"], v["vcpus"], v["swap"] = f.RAM, f.Disk, f.VCPUs, swap
	v["OS-FLV-EXT-DATA:ephemeral"] = f.Ephemeral
	v["OS-FLV-DISABLED:disabled"] = false
	v["os-flavor-access:is_public"] = f.IsPublic
	v["rxtx_factor"] = rxtx
	if mv.atLeast(61) {
		v["extra_specs"] = map[string]any{}
	}
	return v
}

func (s *Sim) novaListFlavors(detail bool) novaHandler {
	return func(w http.ResponseWriter, r *http.Request, mv microversion) {
		q := r.URL.Query()
		minDisk, err1 := atoiDefault(q.Get("minDisk"))
		minRAM, err2 := atoiDefault(q.Get("minRam"))
		if err1 != nil || err2 != nil {
			s.novaError(w, http.StatusBadRequest, "Invalid minDisk or minRam filter")
			return
		}
		isPublic := strings.ToLower(q.Get("is_public"))
		s.mu.Lock()
		defer s.mu.Unlock()
		var all []*Flavor
		for _, f := range s.sortedFlavorsLocked() {
			if f.Disk < minDisk || f.RAM < minRAM {
				continue
			}
			if (isPublic == "true" || isPublic == "1") && !f.IsPublic || (isPublic == "false" || isPublic == "0") && f.IsPublic {
				continue
			}
			all = append(all, f)
		}
		page, next, bad := paginate(all, func(f *Flavor) string { return f.ID }, q)
		if bad != nil {
			s.novaError(w, bad.status, bad.msg)
			return
		}
		out := make([]any, 0, len(page))
		for _, f := range page {
			out = append(out, s.flavorView(f, mv, detail))
		}
		body := map[string]any{"flavors": out}
		if next != "" {
			path := "flavors"
			if detail {
				path = "flavors/detail"
			}
			body["flavors_links"] = []any{map[string]any{"rel": "next", "href": s.nextLink(path, q, next)}}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func atoiDefault(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	return strconv.Atoi(v)
}

func (s *Sim) novaGetFlavor(w http.ResponseWriter, r *http.Request, mv microversion) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.st.flavors[id]
	if f == nil {
		s.novaError(w, http.StatusNotFound, fmt.Sprintf("Flavor %s could not be found.", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor": s.flavorView(f, mv, true)})
}

func (s *Sim) novaFlavorExtraSpecs(w http.ResponseWriter, r *http.Request, _ microversion) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.flavors[id] == nil {
		s.novaError(w, http.StatusNotFound, fmt.Sprintf("Flavor %s could not be found.", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"extra_specs": map[string]any{}})
}

// ---- keypairs ----

var (
	keypairNameRE    = regexp.MustCompile(`^[a-zA-Z0-9 _-]+$`)
	keypairName292RE = regexp.MustCompile(`^[a-zA-Z0-9 _.@-]+$`)
)

// keypairNumericID is the integer id Nova shows for a keypair, stable per name.
func keypairNumericID(name string) int {
	h := sha256.Sum256([]byte(name))
	return int(binary.BigEndian.Uint32(h[:4])>>8) + 1
}

func (s *Sim) keypairView(kp *Keypair, mv microversion, full bool) map[string]any {
	v := map[string]any{"name": kp.Name, "public_key": kp.PublicKey, "fingerprint": kp.Fingerprint}
	if mv.atLeast(2) {
		v["type"] = kp.Type
	}
	if full {
		v["user_id"] = kp.UserID
		v["deleted"] = false
		v["created_at"] = kp.Created.UTC().Format("2006-01-02T15:04:05.000000")
		v["updated_at"] = nil
		v["deleted_at"] = nil
		v["id"] = keypairNumericID(kp.Name)
	}
	return v
}

func (s *Sim) novaListKeypairs(w http.ResponseWriter, r *http.Request, mv microversion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*Keypair
	for _, name := range slices.Sorted(maps.Keys(s.st.keypairs)) {
		all = append(all, s.st.keypairs[name])
	}
	q := r.URL.Query()
	if !mv.atLeast(35) {
		q.Del("limit")
		q.Del("marker")
	}
	page, next, bad := paginate(all, func(k *Keypair) string { return k.Name }, q)
	if bad != nil {
		s.novaError(w, bad.status, bad.msg)
		return
	}
	out := make([]any, 0, len(page))
	for _, kp := range page {
		out = append(out, map[string]any{"keypair": s.keypairView(kp, mv, false)})
	}
	body := map[string]any{"keypairs": out}
	if next != "" {
		body["keypairs_links"] = []any{map[string]any{"rel": "next", "href": s.nextLink("os-keypairs", q, next)}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Sim) keypairNotFound(w http.ResponseWriter, name string) {
	s.novaError(w, http.StatusNotFound, fmt.Sprintf("Keypair %s not found for user %s", name, s.ident.userID))
}

func (s *Sim) novaGetKeypair(w http.ResponseWriter, r *http.Request, mv microversion) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.st.keypairs[name]
	if kp == nil {
		s.keypairNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keypair": s.keypairView(kp, mv, true)})
}

func (s *Sim) novaDeleteKeypair(w http.ResponseWriter, r *http.Request, mv microversion) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.keypairs[name] == nil {
		s.keypairNotFound(w, name)
		return
	}
	delete(s.st.keypairs, name)
	if mv.atLeast(2) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// novaCreateKeypair imports a public key, or (before 2.92) generates a keypair and returns
// its private key once.
func (s *Sim) novaCreateKeypair(w http.ResponseWriter, r *http.Request, mv microversion) {
	var req struct {
		Keypair *struct {
			Name      string  `json:"name"`
			PublicKey *string `json:"public_key"`
			Type      string  `json:"type"`
		} `json:"keypair"`
	}
	if !s.decodeNovaBody(w, r, &req) {
		return
	}
	if req.Keypair == nil || req.Keypair.Name == "" || len(req.Keypair.Name) > 255 {
		s.novaError(w, http.StatusBadRequest, invalidInput("keypair", "'name' is a required property"))
		return
	}
	in := req.Keypair
	nameRE := keypairNameRE
	if mv.atLeast(92) {
		nameRE = keypairName292RE
	}
	if !nameRE.MatchString(in.Name) {
		s.novaError(w, http.StatusBadRequest, "Keypair data is invalid: Keypair name contains unsafe characters")
		return
	}
	typ := "ssh"
	if in.Type != "" {
		if !mv.atLeast(2) {
			s.novaError(w, http.StatusBadRequest, invalidInput("keypair", "Additional properties are not allowed ('type' was unexpected)"))
			return
		}
		if in.Type != "ssh" {
			s.novaError(w, http.StatusBadRequest, fmt.Sprintf("Keypair data is invalid: keypair type %s is not supported by this simulator", in.Type))
			return
		}
	}
	if in.PublicKey == nil && mv.atLeast(92) {
		s.novaError(w, http.StatusBadRequest, invalidInput("keypair", "'public_key' is a required property"))
		return
	}
	var pub ssh.PublicKey
	var privatePEM string
	if in.PublicKey != nil {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*in.PublicKey))
		if err != nil {
			s.novaError(w, http.StatusBadRequest, "Keypair data is invalid: failed to generate fingerprint")
			return
		}
		pub = k
	} else {
		edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
		if err == nil {
			pub, err = ssh.NewPublicKey(edPub)
		}
		var block *pem.Block
		if err == nil {
			block, err = ssh.MarshalPrivateKey(edPriv, in.Name)
		}
		if err != nil {
			s.novaError(w, http.StatusInternalServerError, "Failed to generate keypair: "+err.Error())
			return
		}
		privatePEM = string(pem.EncodeToMemory(block))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.keypairs[in.Name] != nil {
		s.novaError(w, http.StatusConflict, fmt.Sprintf("Key pair '%s' already exists.", in.Name))
		return
	}
	if lim := s.st.limits.MaxKeypairs; lim >= 0 && len(s.st.keypairs) >= lim {
		s.novaError(w, http.StatusForbidden, "Quota exceeded, too many key pairs.")
		return
	}
	kp := &Keypair{
		Name: in.Name, PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + "\n",
		Fingerprint: ssh.FingerprintLegacyMD5(pub), Type: typ, UserID: s.ident.userID,
		Created: time.Now().UTC(),
	}
	if in.PublicKey != nil {
		kp.PublicKey = *in.PublicKey
	}
	s.st.keypairs[kp.Name] = kp
	v := s.keypairView(kp, mv, false)
	v["user_id"] = kp.UserID
	if privatePEM != "" {
		v["private_key"] = privatePEM
	}
	status := http.StatusOK
	if mv.atLeast(2) {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"keypair": v})
}

// ---- limits and availability zones ----

// novaGetLimits answers GET /limits (reference 08) with usage counted from live servers;
// the network-proxy fields go at 2.36 and the personality ones at 2.57, as in Nova.
func (s *Sim) novaGetLimits(w http.ResponseWriter, _ *http.Request, mv microversion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.limits
	u := s.usageLocked()
	abs := map[string]any{
		"maxTotalInstances":     l.MaxInstances,
		"maxTotalCores":         l.MaxCores,
		"maxTotalRAMSize":       l.MaxRAM,
		"maxServerMeta":         l.MaxServerMeta,
		"maxImageMeta":          l.MaxImageMeta,
		"maxTotalKeypairs":      l.MaxKeypairs,
		"maxServerGroups":       l.MaxServerGroups,
		"maxServerGroupMembers": 10,
		"totalRAMUsed":          u.ram,
		"totalCoresUsed":        u.cores,
		"totalInstancesUsed":    u.instances,
		"totalServerGroupsUsed": 0,
	}
	if !mv.atLeast(36) {
		abs["maxTotalFloatingIps"] = l.MaxTotalFloatingIps
		abs["maxSecurityGroups"] = l.MaxSecurityGroups
		abs["maxSecurityGroupRules"] = -1
		abs["totalFloatingIpsUsed"] = len(s.st.fips)
		abs["totalSecurityGroupsUsed"] = 0
	}
	if !mv.atLeast(57) {
		abs["maxPersonality"] = l.MaxPersonality
		abs["maxPersonalitySize"] = 10240
	}
	writeJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
}

func (s *Sim) novaAvailabilityZones(w http.ResponseWriter, r *http.Request, _ microversion) {
	var hosts any
	if strings.HasSuffix(r.URL.Path, "/detail") {
		hosts = map[string]any{novaHost: map[string]any{"nova-compute": map[string]any{
			"available": true, "active": true,
			"updated_at": time.Now().UTC().Format("2006-01-02T15:04:05.000000"),
		}}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": []any{map[string]any{
		"zoneName": novaAZ, "zoneState": map[string]any{"available": true}, "hosts": hosts,
	}}})
}
