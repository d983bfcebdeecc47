package pgjournal

import (
	"time"

	"github.com/tallyledger/tally/ledger"
)

// queueEvents queues the insert of events and of their postings: one
// multi-row statement each, whatever the batch size.
func queueEvents(p *pipeline, events []ledger.Event) {
	if len(events) == 0 {
		return
	}
	n := len(events)
	books, ids, types, datas, prevs, hashes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	positions := make([]int64, n)
	occurred, recorded := make([]time.Time, n), make([]time.Time, n)
	legs := 0
	for _, e := range events {
		legs += len(e.Postings)
	}
	pBooks, pAccounts, pCurrencies := make([]string, 0, legs), make([]string, 0, legs), make([]string, 0, legs)
	pAmounts, pAfter := make([]string, 0, legs), make([]string, 0, legs)
	pPositions, pSeqs := make([]int64, 0, legs), make([]int16, 0, legs)
	for i, e := range events {
		books[i], ids[i], types[i], datas[i], prevs[i], hashes[i] = e.Book, e.ID, string(e.Type), string(e.Data), e.PrevHash, e.Hash
		positions[i], occurred[i], recorded[i] = e.Position, e.OccurredAt, e.RecordedAt
		for k, leg := range e.Postings {
			pBooks = append(pBooks, e.Book)
			pPositions = append(pPositions, e.Position)
			pSeqs = append(pSeqs, int16(k))
			pAccounts = append(pAccounts, leg.Account)
			pCurrencies = append(pCurrencies, string(leg.Amount.Currency()))
			pAmounts = append(pAmounts, leg.Amount.String())
			pAfter = append(pAfter, leg.BalanceAfter.String())
		}
	}
	p.exec("insert events", `
		INSERT INTO events (book, position, id, type, occurred_at, recorded_at, data, prev_hash, hash)
		SELECT book, pos, id, typ, occ, rec, data::jsonb, prev, hash
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[])
		     AS t(book, pos, id, typ, occ, rec, data, prev, hash)`,
		books, positions, ids, types, occurred, recorded, datas, prevs, hashes)
	if legs == 0 {
		return
	}
	p.exec("insert postings", `
		INSERT INTO postings (book, position, seq, account_id, currency, amount, balance_after)
		SELECT book, pos, seq, acc, cur, amount::numeric, after::numeric
		FROM unnest($1::text[], $2::bigint[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[])
		     AS t(book, pos, seq, acc, cur, amount, after)`,
		pBooks, pPositions, pSeqs, pAccounts, pCurrencies, pAmounts, pAfter)
}

// queueRecords queues the insert of the batch's idempotency records, which
// are kept per book. New keys are plainly inserted: the book's lock and the
// lookup before deciding mean none can exist (an optimistic batch, which
// does not look, fails on the primary key and is appended carefully). Only records that finish an in-progress one (a deposit's second
// step) replace it, and never a final answer.
func queueRecords(p *pipeline, book string, records []record) {
	var fresh, finishing []record
	for _, r := range records {
		if r.finishes {
			finishing = append(finishing, r)
		} else {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) > 0 {
		p.exec("insert idempotency records", `
			INSERT INTO idempotency_keys (book, scope, key, fingerprint, status, content_type, body, position)
			SELECT $8, * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bytea[], $7::bigint[])`,
			append(recordColumns(fresh), book)...)
	}
	if len(finishing) > 0 {
		p.exec("finish idempotency records", `
			INSERT INTO idempotency_keys AS k (book, scope, key, fingerprint, status, content_type, body, position)
			SELECT $8, * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bytea[], $7::bigint[])
			ON CONFLICT (book, scope, key) DO UPDATE
			SET status = excluded.status, content_type = excluded.content_type, body = excluded.body,
			    position = coalesce(excluded.position, k.position)
			WHERE k.status = 0 AND k.fingerprint = excluded.fingerprint`,
			append(recordColumns(finishing), book)...)
	}
}

// recordColumns are the records as the column arrays the inserts unnest.
func recordColumns(records []record) []any {
	n := len(records)
	scopes, keys, fps, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	statuses := make([]int32, n)
	bodies := make([][]byte, n)
	positions := make([]*int64, n)
	for i, r := range records {
		scopes[i], keys[i], fps[i], types[i] = r.Scope, r.Key, r.Fingerprint, r.Response.ContentType
		statuses[i], bodies[i] = int32(r.Response.Status), r.Response.Body
		if r.Position > 0 {
			pos := r.Position
			positions[i] = &pos
		}
	}
	return []any{scopes, keys, fps, statuses, types, bodies, positions}
}
