package orchestrator

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/remint-dev/remint/catalog"
	"github.com/remint-dev/remint/internal/debian"
)

// Images is what the image endpoints need; Fleet implements it on the manifest and the
// cloud's image catalog.
type Images interface {
	// FamilyNames lists the manifest's image families in order.
	FamilyNames() []string
	// CheckFamily returns a *NotFoundError naming the families when there is no such one.
	CheckFamily(family string) error
	// ListImages lists a family's catalog versions, newest first (`remint image list`).
	ListImages(ctx context.Context, family string) ([]ImageView, error)
	// ShowImage shows one version, "latest" the active one (`remint image show`).
	ShowImage(ctx context.Context, family, version string) (ImageView, error)
	// DiffImages compares the recorded package lists of two versions (`remint image diff`).
	DiffImages(ctx context.Context, family, from, to string) (ImageDiff, error)
	// RegisterImage makes an existing Glance image the family's active version.
	RegisterImage(ctx context.Context, family string, req RegisterRequest) (ImageChange, error)
	// RevokeImage revokes a version and deactivates its image.
	RevokeImage(ctx context.Context, family, version, reason string) (ImageChange, error)
	// PromoteImage makes a candidate version active on the operator's word (`remint
	// image promote`); by names who asked.
	PromoteImage(ctx context.Context, family, version, by string) (ImageChange, error)
	// RetireImages enforces the family's retention (`remint image retire`); by names who
	// asked.
	RetireImages(ctx context.Context, family string, req RetireRequest, by string) (ImageChange, error)
}

// ImageView is a catalog version as `remint image list|show --output json` and the API
// show it.
type ImageView struct {
	Family     string    `json:"family"`
	Version    string    `json:"version"`
	State      string    `json:"state"`
	ImageID    string    `json:"image_id"`
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	Visibility string    `json:"visibility,omitempty"`
	Hidden     bool      `json:"hidden"`
	Created    time.Time `json:"created"`
	// BuiltAt is when remint image build made it (empty for registered images).
	BuiltAt string `json:"built_at,omitempty"`
	// Verification is passed, failed or operator ("" when never verified), with its reason.
	Verification       string            `json:"verification,omitempty"`
	VerificationReason string            `json:"verification_reason,omitempty"`
	RevokedReason      string            `json:"revoked_reason,omitempty"`
	Properties         map[string]string `json:"properties,omitempty"`
}

// ViewImage is the view of a catalog entry: its remint_ properties without the package
// list chunks.
func ViewImage(e catalog.Entry) ImageView {
	props := map[string]string{}
	for k, v := range e.Image.Properties {
		if strings.HasPrefix(k, "remint_") && !strings.HasPrefix(k, catalog.PropPackagesChunk) {
			props[k] = v
		}
	}
	p := e.Image.Properties
	return ImageView{
		Family: e.Family, Version: e.Version.String(), State: string(e.State),
		ImageID: e.Image.ID, Name: e.Image.Name, Status: e.Image.Status,
		Visibility: e.Image.Visibility, Hidden: e.Image.Hidden, Created: e.Image.Created,
		BuiltAt: p[catalog.PropBuiltAt], Verification: p[catalog.PropVerification], VerificationReason: p[catalog.PropVerificationReason],
		RevokedReason: p[catalog.PropRevokedReason], Properties: props,
	}
}

// ImageDiff is `remint image diff --output json`: the packages added, removed and
// upgraded from one version to another.
type ImageDiff struct {
	Family  string          `json:"family"`
	From    string          `json:"from"`
	To      string          `json:"to"`
	Changes []debian.Change `json:"changes"`
}

// ImageChange is what a catalog change did (`remint image register|revoke|retire
// --output json`).
type ImageChange struct {
	Family string     `json:"family"`
	Entry  *ImageView `json:"entry,omitempty"`
	Keep   int        `json:"keep,omitempty"` // retire: the versions kept
	DryRun bool       `json:"dry_run,omitempty"`
	Notes  []string   `json:"notes"`
	Error  string     `json:"error,omitempty"`
}

// RegisterRequest is POST /v1/images/{family}/register: `remint image register FAMILY
// IMAGE`.
type RegisterRequest struct {
	// Image is a Glance image id or a unique image name; or PackerManifest is the file
	// Packer's "manifest" post-processor wrote, whose newest openstack build's image is
	// registered (`--from-packer-manifest`). Exactly one of them.
	Image          string          `json:"image,omitempty"`
	PackerManifest json.RawMessage `json:"packer_manifest,omitempty"`
	// Verify is refused: verifying boots a server for minutes; the CLI does it
	// (`remint image register --verify`).
	Verify bool `json:"verify,omitempty"`
}

// RetireRequest is POST /v1/images/{family}/retire: `remint image retire FAMILY`.
type RetireRequest struct {
	Keep   int  `json:"keep,omitempty"` // 0: the family's retention
	DryRun bool `json:"dry_run,omitempty"`
}

// RevokeRequest is POST /v1/images/{family}/{version}/revoke.
type RevokeRequest struct {
	Reason string `json:"reason"`
}

func imageRoutes(im Images, jobs Jobs) []Route {
	family := func(w http.ResponseWriter, r *http.Request) (string, bool) {
		f := r.PathValue("family")
		if err := im.CheckFamily(f); err != nil {
			writeErr(w, err)
			return f, false
		}
		return f, true
	}
	version := func(s string, latest bool) error {
		if latest && s == "latest" {
			return nil
		}
		if _, err := catalog.ParseVersion(s); err != nil {
			if latest {
				return badRequest("version %q: want latest or YYYY.MM.N", s)
			}
			return badRequest("version %q: want YYYY.MM.N", s)
		}
		return nil
	}
	return []Route{
		{"GET /v1/images", func(w http.ResponseWriter, r *http.Request) {
			families := im.FamilyNames()
			if f := r.URL.Query().Get("family"); f != "" {
				if err := im.CheckFamily(f); err != nil {
					writeErr(w, err)
					return
				}
				families = []string{f}
			}
			out := []ImageView{}
			for _, f := range families {
				list, err := im.ListImages(r.Context(), f)
				if err != nil {
					writeErr(w, err)
					return
				}
				out = append(out, list...)
			}
			writeJSON(w, http.StatusOK, map[string]any{"images": out})
		}},
		{"GET /v1/images/{family}/diff", func(w http.ResponseWriter, r *http.Request) {
			f, ok := family(w, r)
			if !ok {
				return
			}
			from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
			if from == "" || to == "" {
				writeErr(w, badRequest("diff of %s: from and to are required (versions YYYY.MM.N or latest)", f))
				return
			}
			for _, v := range []string{from, to} {
				if err := version(v, true); err != nil {
					writeErr(w, err)
					return
				}
			}
			d, err := im.DiffImages(r.Context(), f, from, to)
			reply(w, http.StatusOK, d, err)
		}},
		{"GET /v1/images/{family}/{version}", func(w http.ResponseWriter, r *http.Request) {
			f, ok := family(w, r)
			if !ok {
				return
			}
			v := r.PathValue("version")
			if err := version(v, true); err != nil {
				writeErr(w, err)
				return
			}
			e, err := im.ShowImage(r.Context(), f, v)
			reply(w, http.StatusOK, e, err)
		}},
		{"POST /v1/images/{family}/build", familyBody(family, func(w http.ResponseWriter, r *http.Request, f string, o BuildImageOptions) {
			raw, _ := json.Marshal(o) // a struct of bools and an int always marshals
			j, err := jobs.Insert(r.Context(), JobRequest{Kind: KindBuildImage, Target: f, Options: raw, RequestedBy: caller(r)})
			reply(w, http.StatusAccepted, j, err)
		})},
		{"POST /v1/images/{family}/register", familyBody(family, func(w http.ResponseWriter, r *http.Request, f string, req RegisterRequest) {
			switch {
			case strings.TrimSpace(req.Image) == "" && len(req.PackerManifest) == 0:
				writeErr(w, badRequest("register in %s: image (a Glance image id or a unique name) or packer_manifest is required", f))
				return
			case req.Image != "" && len(req.PackerManifest) > 0:
				writeErr(w, badRequest("register in %s: give image or packer_manifest, not both", f))
				return
			case req.Verify:
				writeErr(w, badRequest("register in %s: verify boots a server from the image and takes minutes; the API registers without it (use `remint image register %s IMAGE --verify`)", f, f))
				return
			}
			ch, err := im.RegisterImage(r.Context(), f, req)
			reply(w, http.StatusOK, ch, err)
		})},
		// Retire runs within the request, as `remint image retire` does; --dry-run too.
		{"POST /v1/images/{family}/retire", familyBody(family, func(w http.ResponseWriter, r *http.Request, f string, req RetireRequest) {
			if req.Keep < 0 {
				writeErr(w, badRequest("retire %s: keep %d: want at least 1 (0: the family's retention)", f, req.Keep))
				return
			}
			ch, err := im.RetireImages(r.Context(), f, req, caller(r))
			reply(w, http.StatusOK, ch, err)
		})},
		{"POST /v1/images/{family}/{version}/revoke", versionBody(family, version, func(w http.ResponseWriter, r *http.Request, f, v string, req RevokeRequest) {
			if strings.TrimSpace(req.Reason) == "" {
				writeErr(w, badRequest("revoke %s %s: reason is required (it is recorded on the image)", f, v))
				return
			}
			ch, err := im.RevokeImage(r.Context(), f, v, req.Reason)
			reply(w, http.StatusOK, ch, err)
		})},
		{"POST /v1/images/{family}/{version}/promote", versionBody(family, version, func(w http.ResponseWriter, r *http.Request, f, v string, _ struct{}) {
			ch, err := im.PromoteImage(r.Context(), f, v, caller(r))
			reply(w, http.StatusOK, ch, err)
		})},
	}
}

// familyBody answers a POST on a known family: its body decoded into a Req (a bad one is
// a 400) is handed to do with the family.
func familyBody[Req any](family func(http.ResponseWriter, *http.Request) (string, bool),
	do func(w http.ResponseWriter, r *http.Request, family string, req Req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, ok := family(w, r)
		if !ok {
			return
		}
		var req Req
		if err := decodeBody(r, &req); err != nil {
			writeErr(w, err)
			return
		}
		do(w, r, f, req)
	}
}

// versionBody answers a POST on a version of a known family (YYYY.MM.N; "latest" is not
// a version to change), with its body decoded into a Req as familyBody does.
func versionBody[Req any](family func(http.ResponseWriter, *http.Request) (string, bool), version func(string, bool) error,
	do func(w http.ResponseWriter, r *http.Request, family, version string, req Req)) http.HandlerFunc {
	return familyBody(family, func(w http.ResponseWriter, r *http.Request, f string, req Req) {
		v := r.PathValue("version")
		if err := version(v, false); err != nil {
			writeErr(w, err)
			return
		}
		do(w, r, f, v, req)
	})
}
