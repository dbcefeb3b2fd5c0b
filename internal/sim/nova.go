package sim

// routesNova is a placeholder until the nova API lands.
func (s *Sim) routesNova() {}
