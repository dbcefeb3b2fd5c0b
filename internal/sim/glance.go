package sim

// routesGlance is a placeholder until the glance API lands.
func (s *Sim) routesGlance() {}
