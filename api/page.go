package api

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	defaultLimit = 50
	maxLimit     = 500
)

// page is a request for one page of a list.
type page struct {
	limit int
	after string // sort key of the last item of the previous page; "" for the first page
}

// pageOf reads ?limit= and ?cursor=.
func pageOf(r *http.Request) (page, *Error) {
	q := r.URL.Query()
	p := page{limit: defaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, badRequest("limit %s: want a whole number from 1 to %d", quoteClipped(s), maxLimit)
		}
		p.limit = n
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || !strings.HasPrefix(string(b), "v1:") || len(b) <= 3 {
			return p, badRequest("cursor %s is not one this API returned; start again without a cursor", quoteClipped(c))
		}
		p.after = string(b[3:])
	}
	return p, nil
}

func cursorOf(key string) string { return base64.RawURLEncoding.EncodeToString([]byte("v1:" + key)) }

// list is one page of items, with the cursor of the next page when there is one.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// paginate returns the page of items after p.after. items must be sorted by key, strictly
// ascending, or strictly descending when desc is set, so a cursor stays valid while items are
// added or removed: the next page starts after the last key seen, wherever that now is.
func paginate[T any](items []T, key func(T) string, desc bool, p page) list[T] {
	start := 0
	if p.after != "" {
		start = sort.Search(len(items), func(i int) bool {
			if desc {
				return key(items[i]) < p.after
			}
			return key(items[i]) > p.after
		})
	}
	end := min(len(items), start+p.limit)
	out := list[T]{Items: items[start:end]}
	if out.Items == nil {
		out.Items = []T{}
	}
	if end < len(items) {
		out.NextCursor = cursorOf(key(items[end-1]))
	}
	return out
}

// timeKey orders by time, then by id; it sorts as a string in time order.
func timeKey(t time.Time, id string) string {
	return t.UTC().Format("20060102T150405.000000000") + "|" + id
}
