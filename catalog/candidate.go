package catalog

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/remint-dev/remint/internal/debian"
)

// Properties of built images, beside those in catalog.go.
const (
	// PropBuildID names the build that made the image (also on its builder server).
	PropBuildID = "remint_build"
	// PropBuildSeconds is how long the build took, from start to image active.
	PropBuildSeconds = "remint_build_seconds"
	// PropPackageCount is the number of installed packages recorded.
	PropPackageCount = "remint_package_count"
	// PropPackagesChunk is the prefix of the recorded package list: gzip + base64 split into
	// remint_packages_01, _02, … (Glance allows 255 characters per property value).
	PropPackagesChunk = "remint_packages_"
	// PropProvisionDigest digests what the family's provisioning asked for.
	PropProvisionDigest = "remint_provision_digest"
	// PropVerification is "passed", "failed" or "operator" (promoted without remint's boot).
	PropVerification = "remint_verification"
	// PropVerificationReason says why verification failed, or what passed.
	PropVerificationReason = "remint_verification_reason"
	// PropVerifiedAt is when verification finished.
	PropVerifiedAt = "remint_verified_at"
	// PropBuildReason is why the image was built out of cycle (remint emergency --reason).
	PropBuildReason = "remint_build_reason"
)

// Verification results.
const (
	VerificationPassed   = "passed"
	VerificationFailed   = "failed"
	VerificationOperator = "operator"
)

// chunkLen is the length of one package-list property value; maxChunks bounds the
// properties a list may take (Glance's default quota is 128 per image).
const (
	chunkLen  = 255
	maxChunks = 80
)

// Build describes how a candidate was built; every field is optional.
type Build struct {
	ID              string
	SourceImage     string // Glance image id the builder booted from
	BuiltAt         time.Time
	Duration        time.Duration
	Packages        []debian.Package // the installed package list
	ProvisionDigest string
	Reason          string // why it was built, when not on schedule
}

// properties renders b as catalog properties.
func (b Build) properties() (map[string]string, error) {
	p := map[string]string{}
	if b.ID != "" {
		p[PropBuildID] = b.ID
	}
	if b.SourceImage != "" {
		p[PropSourceImage] = b.SourceImage
	}
	if !b.BuiltAt.IsZero() {
		p[PropBuiltAt] = b.BuiltAt.UTC().Format(time.RFC3339)
	}
	if b.Duration > 0 {
		p[PropBuildSeconds] = strconv.FormatFloat(b.Duration.Seconds(), 'f', 1, 64)
	}
	if b.ProvisionDigest != "" {
		p[PropProvisionDigest] = b.ProvisionDigest
	}
	if b.Reason != "" {
		p[PropBuildReason] = truncate(b.Reason, 250)
	}
	if b.Packages != nil {
		list := debian.FormatList(b.Packages)
		sum := sha256.Sum256([]byte(list))
		p[PropPackagesDigest] = "sha256:" + hex.EncodeToString(sum[:])
		p[PropPackageCount] = strconv.Itoa(len(b.Packages))
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		_, _ = zw.Write([]byte(list))
		_ = zw.Close()
		enc := base64.StdEncoding.EncodeToString(z.Bytes())
		n := 0
		for len(enc) > 0 {
			n++
			if n > maxChunks {
				return nil, fmt.Errorf("package list of %d packages is too large to record on the image (%d properties of %d characters)", len(b.Packages), maxChunks, chunkLen)
			}
			k := min(chunkLen, len(enc))
			p[fmt.Sprintf("%s%02d", PropPackagesChunk, n)] = enc[:k]
			enc = enc[k:]
		}
	}
	return p, nil
}

// AddCandidate adds an image (a build's snapshot, or an image to register with
// verification) to the family as a candidate: it gets the next version but is not
// "latest" until Promote. Nothing boots from it by default.
func (c *Catalog) AddCandidate(ctx context.Context, family, imageID string, b Build, now time.Time) (Entry, error) {
	props, err := b.properties()
	if err != nil {
		return Entry{}, fmt.Errorf("add image %s to family %s: %w", imageID, family, err)
	}
	e, _, err := c.add(ctx, family, imageID, Candidate, props, now)
	return e, err
}

// MarkVerification records the result of a candidate's verification boot: passed, or
// failed with reason (the candidate stays a candidate, marked failed, for debugging).
func (c *Catalog) MarkVerification(ctx context.Context, imageID string, passed bool, reason string, now time.Time) (Entry, error) {
	img, err := c.images.GetImage(ctx, imageID)
	if err != nil {
		return Entry{}, fmt.Errorf("record verification of image %s: %w", imageID, err)
	}
	e, ok := entryOf(img)
	if !ok || e.State != Candidate {
		return Entry{}, fmt.Errorf("record verification of image %s: not a catalog candidate", imageID)
	}
	result := VerificationFailed
	if passed {
		result = VerificationPassed
	}
	if len(reason) > chunkLen {
		reason = reason[:chunkLen-1] + "…"
	}
	reason = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, reason)
	return c.setState(ctx, e, Candidate, now, map[string]string{
		PropVerification: result, PropVerificationReason: reason, PropVerifiedAt: now.UTC().Format(time.RFC3339),
	})
}

// DeleteCandidate deletes a candidate's image (a failed build's, unless kept for
// debugging). Only candidates may be deleted this way: they never were "latest".
func (c *Catalog) DeleteCandidate(ctx context.Context, imageID string) error {
	img, err := c.images.GetImage(ctx, imageID)
	if err != nil {
		return fmt.Errorf("delete candidate image %s: %w", imageID, err)
	}
	if e, ok := entryOf(img); ok && e.State != Candidate {
		return fmt.Errorf("delete candidate image %s: it is %s, not a candidate", imageID, e.State)
	}
	if err := c.images.DeleteImage(ctx, imageID); err != nil {
		return fmt.Errorf("delete candidate image %s: %w", imageID, err)
	}
	return nil
}

// PromoteVersion promotes a candidate version of family an operator verified by other
// means; a verification that failed is overridden and the override recorded.
func (c *Catalog) PromoteVersion(ctx context.Context, family string, v Version, now time.Time) (Entry, []string, error) {
	entries, err := c.List(ctx, family)
	if err != nil {
		return Entry{}, nil, err
	}
	for _, e := range entries {
		if e.Version != v {
			continue
		}
		if e.State != Candidate {
			return Entry{}, nil, fmt.Errorf("promote %s %s: it is %s; only a candidate can be promoted", family, v, e.State)
		}
		var notes []string
		if res := e.Image.Properties[PropVerification]; res != VerificationPassed {
			why := "it was not verified by remint"
			if res == VerificationFailed {
				why = "its verification had failed: " + e.Image.Properties[PropVerificationReason]
			}
			if _, err := c.setState(ctx, e, Candidate, now, map[string]string{
				PropVerification: VerificationOperator, PropVerificationReason: "promoted by an operator; " + truncate(why, 200),
				PropVerifiedAt: now.UTC().Format(time.RFC3339),
			}); err != nil {
				return Entry{}, nil, err
			}
			notes = append(notes, fmt.Sprintf("%s %s promoted on the operator's word (%s)", family, v, why))
		}
		pe, more, err := c.Promote(ctx, e.Image.ID, now)
		return pe, append(notes, more...), err
	}
	return Entry{}, nil, fmt.Errorf("promote %s %s: no such version", family, v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ErrNoPackageList is returned by Packages for images built without a recorded list.
var ErrNoPackageList = errors.New("no package list recorded")

// Packages returns the package list recorded on a catalog image, checked against its
// digest.
func Packages(e Entry) ([]debian.Package, error) {
	props := e.Image.Properties
	var enc strings.Builder
	for n := 1; ; n++ {
		chunk, ok := props[fmt.Sprintf("%s%02d", PropPackagesChunk, n)]
		if !ok {
			break
		}
		enc.WriteString(chunk)
	}
	if enc.Len() == 0 {
		return nil, fmt.Errorf("%s %s: %w (image %s was not built by remint image build)", e.Family, e.Version, ErrNoPackageList, e.Image.ID)
	}
	raw, err := base64.StdEncoding.DecodeString(enc.String())
	if err != nil {
		return nil, fmt.Errorf("%s %s: package list: %w", e.Family, e.Version, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s %s: package list: %w", e.Family, e.Version, err)
	}
	list, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: package list: %w", e.Family, e.Version, err)
	}
	sum := sha256.Sum256(list)
	if want := props[PropPackagesDigest]; want != "sha256:"+hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("%s %s: package list does not match its digest %s: the image's properties were changed", e.Family, e.Version, want)
	}
	return debian.ParseList(string(list))
}

// Properties recording the last build skipped because nothing changed.
const (
	PropSkippedAt     = "remint_build_skipped_at"
	PropSkippedReason = "remint_build_skipped_reason"
)

// RecordSkippedBuild notes on the active entry e that a build was skipped, and why.
func (c *Catalog) RecordSkippedBuild(ctx context.Context, e Entry, reason string, now time.Time) error {
	_, err := c.setState(ctx, e, e.State, now, map[string]string{
		PropSkippedAt: now.UTC().Format(time.RFC3339), PropSkippedReason: truncate(reason, 250),
	})
	return err
}
