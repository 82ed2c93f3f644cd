package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/smartcloudops/smartcloudops/internal/store"
)

// Store keys of the synced rule set. Each sync writes its files under a generation of their
// own (rules/set/gen/<gen>/<file>) and then points the meta key at it in one small transaction,
// so any number of files is switched atomically within etcd's transaction limits; the previous
// generation is deleted afterwards. Sets written before generations keep their files under
// rules/set/files/.
const (
	syncMetaKey     = "rules/set/meta"
	syncFilesPrefix = "rules/set/files/"
	syncGenPrefix   = "rules/set/gen/"
)

// SyncOptions configures Sync.
type SyncOptions struct {
	Load LoadOptions
	Now  func() time.Time // stamps SyncInfo.SyncedAt; defaults to time.Now
	Git  string           // git binary; defaults to "git" on PATH
}

// SyncInfo describes the rule set in the store: which commit it came from and each rule's
// version.
type SyncInfo struct {
	Commit   string            `json:"commit"`
	Author   string            `json:"author"`
	Date     time.Time         `json:"date"` // author date of the commit
	Subject  string            `json:"subject"`
	Dir      string            `json:"dir"`
	SyncedAt time.Time         `json:"synced_at"`
	Files    []string          `json:"files"`    // rule files, relative to Dir
	Versions map[string]string `json:"versions"` // rule name → version
	Sources  map[string]string `json:"sources"`  // rule name → YAML source, for diffs
	Gen      string            `json:"gen,omitempty"`
}

// filesPrefix is where the files of the set described by info are stored.
func (info SyncInfo) filesPrefix() string {
	if info.Gen == "" {
		return syncFilesPrefix
	}
	return syncGenPrefix + info.Gen + "/"
}

// SyncReport says what a Sync changed.
type SyncReport struct {
	Info     SyncInfo
	Previous string            // commit synced before, "" for the first sync
	Added    []string          // rule names, sorted
	Changed  []string          // rule names whose version changed, sorted
	Removed  []string          // rule names, sorted
	Diffs    map[string]string // rule name → unified diff of its source, for Changed
	Total    int               // rules in the new set
}

// Sync loads the rule files of a git checkout, validates all of them and, only if every rule
// is valid, writes the set with its commit, author and rule versions to the store in one
// transaction. A concurrent Sync that wrote first makes this one fail with store.ErrConflict.
func Sync(ctx context.Context, st store.Store, dir string, opts SyncOptions) (SyncReport, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Git == "" {
		opts.Git = "git"
	}
	info, err := gitHead(ctx, opts.Git, dir)
	if err != nil {
		return SyncReport{}, err
	}
	names, err := expandPaths([]string{dir})
	if err != nil {
		return SyncReport{}, err
	}
	var files []File
	for _, name := range names {
		data, err := readFile(name)
		if err != nil {
			return SyncReport{}, fmt.Errorf("sync %s: read %s: %w", dir, name, err)
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			rel = name
		}
		files = append(files, File{Name: filepath.ToSlash(rel), Data: data})
	}
	set, err := Parse(files, opts.Load)
	if err != nil {
		return SyncReport{}, fmt.Errorf("sync %s at %s: nothing loaded, rule files are invalid:\n%w", dir, short(info.Commit), err)
	}
	info.Dir, info.SyncedAt = dir, opts.Now().UTC()
	info.Versions, info.Sources = map[string]string{}, map[string]string{}
	for _, f := range files {
		info.Files = append(info.Files, f.Name)
	}
	for _, r := range set.Rules() {
		info.Versions[r.Name] = r.Version
		info.Sources[r.Name] = r.Source
	}

	prev, prevRev, err := readSyncInfo(ctx, st)
	if err != nil && !errors.Is(err, ErrNotSynced) {
		return SyncReport{}, err
	}
	rep := diffSets(prev, info)
	rep.Total = set.Len()

	info.Gen = fmt.Sprintf("%020d-%s", info.SyncedAt.UnixNano(), short(info.Commit))
	meta, err := json.Marshal(info)
	if err != nil {
		return SyncReport{}, fmt.Errorf("sync: encode: %w", err)
	}
	written := make([]store.Op, 0, len(files))
	for _, f := range files {
		written = append(written, store.Op{Key: info.filesPrefix() + f.Name, Value: f.Data})
	}
	if _, err := store.WriteAll(ctx, st, written); err != nil {
		removeKeys(ctx, st, written)
		return SyncReport{}, fmt.Errorf("sync: write rule files: %w", err)
	}
	if _, err := st.Txn(ctx, []store.Cmp{{Key: syncMetaKey, Rev: prevRev}}, []store.Op{{Key: syncMetaKey, Value: meta}}); err != nil {
		removeKeys(ctx, st, written)
		return SyncReport{}, fmt.Errorf("sync: write rule set: %w", err)
	}
	// The previous set's files are no longer read; a failure here leaves garbage, not harm.
	if old, err := st.List(ctx, prev.filesPrefix()); err == nil && prev.Commit != "" {
		dels := make([]store.Op, len(old))
		for i, kv := range old {
			dels[i] = store.Op{Key: kv.Key, Delete: true}
		}
		_, _ = store.WriteAll(ctx, st, dels)
	}
	return rep, nil
}

// removeKeys deletes the keys of ops, best effort, after a sync that did not complete.
func removeKeys(ctx context.Context, st store.Store, ops []store.Op) {
	dels := make([]store.Op, len(ops))
	for i, op := range ops {
		dels[i] = store.Op{Key: op.Key, Delete: true}
	}
	_, _ = store.WriteAll(context.WithoutCancel(ctx), st, dels)
}

// LoadFromStore reads and compiles the rule set written by the last Sync.
func LoadFromStore(ctx context.Context, st store.Store, opts LoadOptions) (*Set, SyncInfo, error) {
	info, _, err := readSyncInfo(ctx, st)
	if err != nil {
		return nil, SyncInfo{}, err
	}
	kvs, err := st.List(ctx, info.filesPrefix())
	if err != nil {
		return nil, info, fmt.Errorf("load rules from store: %w", err)
	}
	byName := map[string][]byte{}
	for _, kv := range kvs {
		byName[strings.TrimPrefix(kv.Key, info.filesPrefix())] = kv.Value
	}
	var files []File
	for _, name := range info.Files {
		data, ok := byName[name]
		if !ok {
			return nil, info, fmt.Errorf("load rules from store: file %s of commit %s is missing", name, short(info.Commit))
		}
		files = append(files, File{Name: name, Data: data})
	}
	set, err := Parse(files, opts)
	if err != nil {
		return nil, info, fmt.Errorf("load rules from store (commit %s): %w", short(info.Commit), err)
	}
	return set, info, nil
}

func readSyncInfo(ctx context.Context, st store.Store) (SyncInfo, uint64, error) {
	kv, err := st.Get(ctx, syncMetaKey)
	if errors.Is(err, store.ErrNotFound) {
		return SyncInfo{}, 0, ErrNotSynced
	}
	if err != nil {
		return SyncInfo{}, 0, fmt.Errorf("read synced rule set: %w", err)
	}
	var info SyncInfo
	if err := json.Unmarshal(kv.Value, &info); err != nil {
		return SyncInfo{}, 0, fmt.Errorf("read synced rule set: %w", err)
	}
	return info, kv.Rev, nil
}

func gitHead(ctx context.Context, git, dir string) (SyncInfo, error) {
	out, err := runGit(ctx, git, dir, "rev-parse", "HEAD")
	if err != nil {
		return SyncInfo{}, fmt.Errorf("sync %s: not a git checkout with a commit: %w", dir, err)
	}
	info := SyncInfo{Commit: strings.TrimSpace(out)}
	out, err = runGit(ctx, git, dir, "log", "-1", "--format=%an <%ae>%n%aI%n%s", "HEAD")
	if err != nil {
		return SyncInfo{}, fmt.Errorf("sync %s: read HEAD: %w", dir, err)
	}
	lines := strings.SplitN(strings.TrimRight(out, "\n"), "\n", 3)
	if len(lines) < 2 {
		return SyncInfo{}, fmt.Errorf("sync %s: unexpected git log output %q", dir, out)
	}
	info.Author = lines[0]
	if info.Date, err = time.Parse(time.RFC3339, lines[1]); err != nil {
		return SyncInfo{}, fmt.Errorf("sync %s: commit date %q: %w", dir, lines[1], err)
	}
	if len(lines) == 3 {
		info.Subject = lines[2]
	}
	return info, nil
}

func runGit(ctx context.Context, git, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, git, append([]string{"-C", dir}, args...)...) // #nosec G204 -- git from the operator's own flags; no shell
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.String(), nil
}

func diffSets(prev, next SyncInfo) SyncReport {
	rep := SyncReport{Info: next, Previous: prev.Commit, Diffs: map[string]string{}}
	for name, v := range next.Versions {
		old, ok := prev.Versions[name]
		switch {
		case !ok:
			rep.Added = append(rep.Added, name)
		case old != v:
			rep.Changed = append(rep.Changed, name)
			rep.Diffs[name] = unifiedDiff(
				fmt.Sprintf("%s@%s (%s)", name, old, short(prev.Commit)),
				fmt.Sprintf("%s@%s (%s)", name, v, short(next.Commit)),
				prev.Sources[name], next.Sources[name])
		}
	}
	for name := range prev.Versions {
		if _, ok := next.Versions[name]; !ok {
			rep.Removed = append(rep.Removed, name)
		}
	}
	sort.Strings(rep.Added)
	sort.Strings(rep.Changed)
	sort.Strings(rep.Removed)
	return rep
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// String renders the report for people: the commit, then added, changed (with diffs) and
// removed rules.
func (r SyncReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "synced %d rules from %s at %s by %s (%s)\n", r.Total, r.Info.Dir, short(r.Info.Commit),
		r.Info.Author, r.Info.Date.UTC().Format(time.RFC3339))
	if r.Previous != "" {
		fmt.Fprintf(&b, "previous commit: %s\n", short(r.Previous))
	}
	if len(r.Added)+len(r.Changed)+len(r.Removed) == 0 {
		b.WriteString("no rule changed\n")
		return b.String()
	}
	for _, n := range r.Added {
		fmt.Fprintf(&b, "added   %s@%s\n", n, r.Info.Versions[n])
	}
	for _, n := range r.Changed {
		fmt.Fprintf(&b, "changed %s@%s\n", n, r.Info.Versions[n])
		for _, l := range splitLines(r.Diffs[n]) {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	for _, n := range r.Removed {
		fmt.Fprintf(&b, "removed %s\n", n)
	}
	return b.String()
}

// maxDiffCells bounds the work of the line diff; larger inputs are shown as a full replace.
const maxDiffCells = 4_000_000

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// unifiedDiff returns a unified-style diff of two texts, with headers naming them.
func unifiedDiff(oldName, newName, a, b string) string {
	if a == b {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	ops := diffLines(x, y)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", oldName, newName)
	// Group ops into hunks with diffContext lines of context.
	i := 0
	for i < len(ops) {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-diffContext, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*diffContext || run == len(ops) {
				end = min(end+diffContext, len(ops))
				break
			}
			end = run
		}
		oldStart, newStart := ops[start].oldLine, ops[start].newLine
		var oldN, newN int
		for _, op := range ops[start:end] {
			if op.kind != '+' {
				oldN++
			}
			if op.kind != '-' {
				newN++
			}
		}
		fmt.Fprintf(&sb, "@@ -%d,%d +%d,%d @@\n", oldStart, oldN, newStart, newN)
		for _, op := range ops[start:end] {
			sb.WriteByte(op.kind)
			sb.WriteString(op.text)
			sb.WriteByte('\n')
		}
		i = end
	}
	return sb.String()
}

type diffOp struct {
	kind             byte // ' ', '-' or '+'
	text             string
	oldLine, newLine int // 1-based line numbers where the op sits
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffLines computes a longest-common-subsequence line diff.
func diffLines(x, y []string) []diffOp {
	n, m := len(x), len(y)
	var ops []diffOp
	if n*m > maxDiffCells {
		for i, l := range x {
			ops = append(ops, diffOp{'-', l, i + 1, 1})
		}
		for j, l := range y {
			ops = append(ops, diffOp{'+', l, n + 1, j + 1})
		}
		return ops
	}
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ops = append(ops, diffOp{' ', x[i], i + 1, j + 1})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, diffOp{'-', x[i], i + 1, j + 1})
			i++
		default:
			ops = append(ops, diffOp{'+', y[j], i + 1, j + 1})
			j++
		}
	}
	return ops
}
