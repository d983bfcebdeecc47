package pgjournal

// Statements of the optimistic append, which tests EXPLAIN on Citus.
const (
	MoveHeadSQL = moveHeadSQL
	LockHeadSQL = lockHeadSQL
)
