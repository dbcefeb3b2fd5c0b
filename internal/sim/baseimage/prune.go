package baseimage

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// pruneAge is how old an earlier build must be before prune removes it: a simulator started
// with another remint binary may be about to boot from its own base image.
const pruneAge = 24 * time.Hour

// prune untags earlier builds so that every new remint binary does not leave a base image
// behind: the other remint/debian-12 tags and rootfs stages created before now-pruneAge.
// Removal is not forced, so an image a container still runs from stays; failures only cost
// disk space and are logged.
func prune(ctx context.Context, engine Engine, keep []string, now time.Time, log *slog.Logger) {
	for _, repo := range []string{Repository, RootfsRepository} {
		list, err := engine.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", repo))})
		if err != nil {
			log.Debug("list earlier base images", "repository", repo, "err", err)
			continue
		}
		for _, img := range list {
			if now.Sub(time.Unix(img.Created, 0)) < pruneAge {
				continue
			}
			for _, tag := range img.RepoTags {
				if slices.Contains(keep, tag) {
					continue
				}
				if _, err := engine.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}); err != nil {
					log.Debug("keep earlier base image", "tag", tag, "err", err)
					continue
				}
				log.Info("removed earlier base image", "tag", tag)
			}
		}
	}
}
