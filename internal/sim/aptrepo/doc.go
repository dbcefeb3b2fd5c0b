// Package aptrepo is the signed Debian package repository that the simulator serves to its
// servers. It belongs to the simulated world (see internal/sim): production code never
// imports it, and apt handling for real servers (in-place upgrades, image builds) belongs
// outside internal/sim. It is laid out like a Debian mirror so that stock apt and
// unattended-upgrades treat it as Debian:
//
//	<dir>/debian/dists/{bookworm,bookworm-updates,bookworm-security}/
//	    Release, InRelease, Release.gpg, main/binary-amd64/Packages(.gz) (+ by-hash copies)
//	<dir>/debian/pool/main/<prefix>/<name>/<name>_<version>_<arch>.deb
//	<dir>/debian/remint-archive-keyring.{gpg,asc}   the public signing key
//	<dir>/key/                                      the private signing key (0600, never served)
//
// The Release files carry Debian's Origin/Label/Suite/Codename (bookworm-security is
// "Debian-Security"/"stable-security"), so the stock Origins-Pattern of unattended-upgrades
// selects it as the security archive. Indices are written to temporary files and renamed,
// and apt reads them by hash, so packages can be added while the repository is served.
//
// Entry points: Open, (*Repo).Add, BuildPackage, (*Repo).PublishDemo,
// (*Repo).PublishDocker, (*Repo).Handler and (*Repo).Serve.
//
// Files: repo.go (Open, Add, index regeneration), release.go and packages.go (index
// formats, pure), deb822.go (control-file parsing), validate.go (Debian policy names and
// versions), sign.go (the OpenPGP key and signatures), build.go (writing .debs in Go),
// debinfo.go (reading .debs with dpkg-deb), demo.go, docker.go, serve.go.
package aptrepo
