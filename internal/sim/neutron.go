package sim

// routesNeutron is a placeholder until the neutron API lands.
func (s *Sim) routesNeutron() {}
