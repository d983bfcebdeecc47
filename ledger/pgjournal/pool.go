package pgjournal

import "time"

// PoolStats is a snapshot of the connection pool, for metrics. It is a plain
// struct so that callers need not import pgx.
type PoolStats struct {
	MaxConns          int32
	TotalConns        int32
	AcquiredConns     int32
	IdleConns         int32
	ConstructingConns int32
	// Counters since the pool was created.
	AcquireCount         int64
	EmptyAcquireCount    int64 // acquisitions that had to wait for a connection
	CanceledAcquireCount int64
	NewConnsCount        int64
	AcquireDuration      time.Duration
}

// PoolStats reports the state of the store's connection pool.
func (s *Store) PoolStats() PoolStats {
	st := s.pool.Stat()
	return PoolStats{
		MaxConns: st.MaxConns(), TotalConns: st.TotalConns(), AcquiredConns: st.AcquiredConns(),
		IdleConns: st.IdleConns(), ConstructingConns: st.ConstructingConns(),
		AcquireCount: st.AcquireCount(), EmptyAcquireCount: st.EmptyAcquireCount(),
		CanceledAcquireCount: st.CanceledAcquireCount(), NewConnsCount: st.NewConnsCount(),
		AcquireDuration: st.AcquireDuration(),
	}
}
