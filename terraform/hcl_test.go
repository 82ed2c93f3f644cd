package terraform

import (
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// tfFile is one parsed .tf file.
type tfFile struct {
	path string // slash-separated, relative to terraform/
	dir  string // the Terraform module directory it belongs to
	body *hclsyntax.Body
}

// config is every .tf file under terraform/, parsed.
type config struct {
	files []tfFile
}

func loadConfig(t *testing.T) *config {
	t.Helper()
	parser := hclparse.NewParser()
	var c config
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".terraform" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".tf") {
			return nil
		}
		f, diags := parser.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Errorf("parse %s: %s", path, diags.Error())
			return nil
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			t.Errorf("parse %s: not native HCL syntax", path)
			return nil
		}
		c.files = append(c.files, tfFile{
			path: filepath.ToSlash(path),
			dir:  filepath.ToSlash(filepath.Dir(path)),
			body: body,
		})
		return nil
	})
	if err != nil {
		t.Fatalf("walk terraform/: %v", err)
	}
	if len(c.files) == 0 {
		t.Fatal("no .tf files found under terraform/")
	}
	return &c
}

// located is a block together with the file it came from.
type located struct {
	file  tfFile
	block *hclsyntax.Block
}

func (l located) String() string {
	r := l.block.DefRange()
	return r.Filename + ":" + strconv.Itoa(r.Start.Line) + ": " + l.block.Type + " " + strings.Join(l.block.Labels, ".")
}

// blocks returns the top-level blocks of the given type (and first label, when not empty) in dir
// ("" for every directory), in file order.
func (c *config) blocks(dir, typ, label string) []located {
	var out []located
	for _, f := range c.files {
		if dir != "" && f.dir != dir {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type != typ {
				continue
			}
			if label != "" && (len(b.Labels) == 0 || b.Labels[0] != label) {
				continue
			}
			out = append(out, located{file: f, block: b})
		}
	}
	return out
}

// dirs returns the module directories, sorted.
func (c *config) dirs() []string {
	seen := make(map[string]bool)
	var out []string
	for _, f := range c.files {
		if !seen[f.dir] {
			seen[f.dir] = true
			out = append(out, f.dir)
		}
	}
	sort.Strings(out)
	return out
}

// locals returns every local value defined in dir.
func (c *config) locals(dir string) map[string]hclsyntax.Expression {
	out := make(map[string]hclsyntax.Expression)
	for _, l := range c.blocks(dir, "locals", "") {
		for name, a := range l.block.Body.Attributes {
			out[name] = a.Expr
		}
	}
	return out
}

func nested(b *hclsyntax.Block, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, n := range b.Body.Blocks {
		if n.Type == typ {
			out = append(out, n)
		}
	}
	return out
}

// staticValue evaluates an expression that refers to no variables.
func staticValue(e hclsyntax.Expression) (cty.Value, bool) {
	if len(e.Variables()) > 0 {
		return cty.NilVal, false
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func staticString(e hclsyntax.Expression) (string, bool) {
	v, ok := staticValue(e)
	if !ok || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func staticBool(e hclsyntax.Expression) (bool, bool) {
	v, ok := staticValue(e)
	if !ok || v.IsNull() || v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

// attrString returns the static string value of attribute name in body.
func attrString(body *hclsyntax.Body, name string) (string, bool) {
	a, ok := body.Attributes[name]
	if !ok {
		return "", false
	}
	return staticString(a.Expr)
}

// templatePrefix returns the literal text a string template starts with, before any
// interpolation: "aws:ResourceTag/${var.k}" gives "aws:ResourceTag/".
func templatePrefix(e hclsyntax.Expression) string {
	if s, ok := staticString(e); ok {
		return s
	}
	tmpl, ok := e.(*hclsyntax.TemplateExpr)
	if !ok || len(tmpl.Parts) == 0 {
		return ""
	}
	if s, ok := staticString(tmpl.Parts[0]); ok {
		return s
	}
	return ""
}

// traversalRoot returns "a.b" for an expression that is a plain reference a.b(.c...).
func traversalRoot(e hclsyntax.Expression) string {
	st, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(st.Traversal) < 2 {
		return ""
	}
	root := st.Traversal.RootName()
	attr, ok := st.Traversal[1].(hcl.TraverseAttr)
	if !ok {
		return root
	}
	return root + "." + attr.Name
}

// objectAttrs returns the attributes of an object constructor whose keys are plain names.
func objectAttrs(o *hclsyntax.ObjectConsExpr) map[string]hclsyntax.Expression {
	out := make(map[string]hclsyntax.Expression)
	for _, item := range o.Items {
		key := hcl.ExprAsKeyword(item.KeyExpr)
		if key == "" {
			if s, ok := staticString(item.KeyExpr); ok {
				key = s
			}
		}
		if key != "" {
			out[key] = item.ValueExpr
		}
	}
	return out
}

// walkExpr calls fn for every expression nested in e, e included.
func walkExpr(e hclsyntax.Node, fn func(hclsyntax.Expression)) {
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if ex, ok := n.(hclsyntax.Expression); ok {
			fn(ex)
		}
		return nil
	})
}
