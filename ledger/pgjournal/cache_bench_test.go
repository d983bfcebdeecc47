package pgjournal

import (
	"strconv"
	"testing"
)

// BenchmarkCacheRecords is the records cache's work per request on a full
// cache: a batch's lookup of its key, and the record's put, which evicts
// the oldest.
func BenchmarkCacheRecords(b *testing.B) {
	var c bookCache
	c.valid = true
	body := make([]byte, 400) // about a transfer's answer
	rec := func(i int) record {
		return record{Scope: "key:admin", Key: "bench-" + strconv.Itoa(i), Fingerprint: "fp",
			Response: Response{Status: 201, ContentType: "application/json", Body: body}}
	}
	for i := range maxCachedRecords {
		c.putRecords([]record{rec(i)})
	}
	b.ReportAllocs()
	i := maxCachedRecords
	for b.Loop() {
		r := rec(i)
		if _, ok := c.lookupRecords(c.gen, []scopedKey{{r.Scope, r.Key}}); !ok {
			b.Fatal("the cache is not valid")
		}
		c.putRecords([]record{r})
		i++
	}
}
