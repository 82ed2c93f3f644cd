package api

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/index"
)

const (
	defaultLimit = 50
	maxLimit     = 500
)

// page is a request for one page of a list.
type page struct {
	limit  int
	cursor string // the cursor as the client sent it; "" for the first page
	raw    string // the cursor decoded
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
		if err != nil || len(b) <= 3 {
			return p, badCursor(c)
		}
		p.cursor, p.raw = c, string(b)
	}
	return p, nil
}

func badCursor(c string) *Error {
	return badRequest("cursor %s is not one this API returned; start again without a cursor", quoteClipped(c))
}

// after is the sort key a list held in memory continues after (see paginate).
func (p page) after() (string, *Error) {
	if p.cursor == "" {
		return "", nil
	}
	k, ok := strings.CutPrefix(p.raw, "v1:")
	if !ok {
		return "", badCursor(p.cursor)
	}
	return k, nil
}

// position is where a list read from a time-ordered index continues (index.Pos). It also takes
// the cursors this API gave for those lists before they were read from the index, which held
// the time and ID of the last item (timeKeyLayout).
func (p page) position() (string, *Error) {
	if p.cursor == "" {
		return "", nil
	}
	if pos, ok := strings.CutPrefix(p.raw, "t1:"); ok && index.ValidPos(pos) {
		return pos, nil
	}
	if k, ok := strings.CutPrefix(p.raw, "v1:"); ok {
		ts, id, ok := strings.Cut(k, "|")
		t, err := time.Parse(timeKeyLayout, ts)
		if ok && err == nil && index.ValidPos(index.Pos(t, id)) {
			return index.Pos(t, id), nil
		}
	}
	return "", badCursor(p.cursor)
}

// positionCursor is the cursor of the page after position pos of an index.
func positionCursor(pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("t1:" + pos))
}

func cursorOf(key string) string { return base64.RawURLEncoding.EncodeToString([]byte("v1:" + key)) }

// list is one page of items, with the cursor of the next page when there is one.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// paginate returns the page p asks for of items held in memory: at most p.limit items after the
// sort key in p's cursor. items must be sorted by key, strictly ascending, or strictly descending
// when desc is set, so a cursor stays valid while items are added or removed: the next page
// starts after the last key seen, wherever that now is.
func paginate[T any](items []T, key func(T) string, desc bool, p page) (list[T], *Error) {
	after, e := p.after()
	if e != nil {
		return list[T]{}, e
	}
	start := 0
	if after != "" {
		start = sort.Search(len(items), func(i int) bool {
			if desc {
				return key(items[i]) < after
			}
			return key(items[i]) > after
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
	return out, nil
}

// timeKeyLayout is the time format of the cursors of incidents and proposals this API gave before
// those lists were read from an index: "v1:" + time + "|" + ID of the last item.
const timeKeyLayout = "20060102T150405.000000000"
