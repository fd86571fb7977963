package ircd

// SendQueueFill reports how full the fullest send queue among the channel's members is, as a
// fraction of server.send_queue (lines held during a JOIN count too); 0 without members.
// Broadcast never blocks, so a backend that delivers a large batch (a back-fill after an
// outage) uses this to go at the pace clients read rather than overrun their queues.
func (s *Server) SendQueueFill() float64 {
	limit := s.cfg().SendQueueLen
	if limit <= 0 {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	most := 0
	for _, c := range s.members {
		c.qmu.Lock()
		most = max(most, len(c.queue), len(c.held))
		c.qmu.Unlock()
	}
	return float64(most) / float64(limit)
}
