// Package imagebuild is the image pipeline: it builds a family's fresh, fully patched
// image, proves it boots and serves, and publishes it to the catalog. Entry point: Build.
//
// The pipeline is a list of packer-plugin-sdk multistep steps (build.go holds the list,
// one step per file, step_<verb>_<noun>.go). Each step that creates a cloud resource
// records it in the state bag and deletes it in its Cleanup, which multistep runs in
// reverse order whether the build succeeded or not; a step that fails puts the error in
// the bag ("error") and halts. Resources are tagged (server metadata, image properties and
// keypair names carry the build id and family), so leftovers of a build that was killed
// are found and removed by the next build of the family (step_remove_leftovers.go).
//
// Hosts are reached through internal/remote: the builder's SSH host key is verified
// against the keys it printed to its console. Host-side apt logic is internal/debian's.
package imagebuild
