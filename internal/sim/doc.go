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
package sim
