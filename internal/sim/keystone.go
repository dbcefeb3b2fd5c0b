package sim

// routesKeystone is a placeholder until the keystone API lands.
func (s *Sim) routesKeystone() {}
