package ircd

// SendQueueFill reports how full the fullest send queue among the channel's members is, as a
// fraction of its limit in lines (server.send_queue) or bytes, whichever is nearer (lines held
// during a JOIN count too); 0 without members. Broadcast never blocks, so a backend that
// delivers a large batch (a back-fill after an outage) uses this to go at the pace clients
// read rather than overrun their queues.
func (s *Server) SendQueueFill() float64 {
	cfg := s.cfg()
	s.mu.RLock()
	defer s.mu.RUnlock()
	most := 0.0
	for _, c := range s.members {
		c.qmu.Lock()
		most = max(most, fill(len(c.queue), cfg.SendQueueLen), fill(c.qbytes, cfg.SendQueueBytes),
			fill(len(c.held), cfg.SendQueueLen), fill(c.heldBytes, cfg.SendQueueBytes))
		c.qmu.Unlock()
	}
	return most
}

func fill(n, limit int) float64 {
	if limit <= 0 {
		return 0
	}
	return float64(n) / float64(limit)
}
