// Package sim is an OpenStack-API-compatible cloud in one process: Keystone v3, Nova v2.1,
// Glance v2 and Neutron v2.0 on one loopback listener, laid out like devstack
// (/identity, /compute, /image, /network), with the status codes, headers and JSON shapes
// of a real OpenStack (see shared/openstack-reference) and fault injection per operation.
//
// Servers are run by a Driver, as Nova runs them through virt drivers: the loopback driver
// gives each server its own 127.x.y.z address serving the image's workload, the docker
// driver makes each server a container. The simulator owns every API object and the IP
// address management; drivers only run workloads and move floating addresses.
//
// Entry points: New, (*Sim).Start, (*Sim).Seed, (*Sim).CloudsYAML.
//
// Files: sim.go (lifecycle, routing, middleware), state.go (resource types), faults.go,
// errors.go (per-service error bodies), ipam.go and xservice.go (the calls one service makes
// into another), keystone.go, nova_*.go, glance*.go, neutron*.go (the HTTP APIs).
//
// # The simulated world
//
// internal/sim and the packages under it are the world remint is tested against, never part
// of what it runs in production: loopback and docker (the server drivers), fipproxy
// (floating addresses on loopback), aptrepo (the signed local apt repository servers
// upgrade from), baseimage (the debian-12 image docker servers boot), workload (the HTTP app
// every simulated server runs), simtest (a running simulator for other packages' tests) and
// simclient (that simulator with remint's OpenStack adapter connected to it).
// No package outside internal/sim imports them, except the files of the `remint sim` and
// `remint workload` commands in cmd/remint and _test.go files; boundary_test.go enforces it.
package sim
