package terraform

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// statement is one IAM policy statement as written, whether as a statement block or as an object
// in a locals list that a dynamic block expands.
type statement struct {
	where      string
	effect     string
	actions    []hclsyntax.Expression
	resources  []hclsyntax.Expression
	conditions []conditionExpr
	// opaqueConditions is set when the conditions cannot be read statically.
	opaqueConditions bool
}

type conditionExpr struct {
	variable hclsyntax.Expression
}

func tupleItems(e hclsyntax.Expression) ([]hclsyntax.Expression, bool) {
	switch e := e.(type) {
	case *hclsyntax.TupleConsExpr:
		return e.Exprs, true
	case *hclsyntax.ForExpr:
		// [for d in var.x : "arn:..."]: the template in the body is what every item looks like.
		return []hclsyntax.Expression{e.ValExpr}, true
	}
	return nil, false
}

// resolveLocal follows local.x references to their definitions in the same module.
func resolveLocal(e hclsyntax.Expression, locals map[string]hclsyntax.Expression) hclsyntax.Expression {
	for range 8 {
		root := traversalRoot(e)
		name, ok := strings.CutPrefix(root, "local.")
		if !ok {
			return e
		}
		def, ok := locals[name]
		if !ok {
			return e
		}
		e = def
	}
	return e
}

// collectStatements finds every IAM statement in the configuration: statement blocks in
// aws_iam_policy_document data sources, and object constructors with actions and resources
// (the statement lists in locals that dynamic "statement" blocks expand).
func collectStatements(t *testing.T, c *config) []statement {
	t.Helper()
	var out []statement
	for _, dir := range c.dirs() {
		locals := c.locals(dir)
		for _, doc := range c.blocks(dir, "data", "aws_iam_policy_document") {
			for _, b := range doc.block.Body.Blocks {
				switch {
				case b.Type == "statement":
					out = append(out, blockStatement(t, doc.String(), b))
				case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "statement":
					checkDynamicStatement(t, doc.String(), b)
				}
			}
		}
		for _, l := range c.blocks(dir, "locals", "") {
			for name, a := range l.block.Body.Attributes {
				walkExpr(a.Expr, func(e hclsyntax.Expression) {
					o, ok := e.(*hclsyntax.ObjectConsExpr)
					if !ok {
						return
					}
					attrs := objectAttrs(o)
					if _, ok := attrs["actions"]; !ok {
						return
					}
					where := l.file.path + ": local." + name
					if sid, ok := attrs["sid"]; ok {
						if s, ok := staticString(sid); ok {
							where += " (" + s + ")"
						}
					}
					out = append(out, objectStatement(t, where, attrs, locals))
				})
			}
		}
	}
	return out
}

func blockStatement(t *testing.T, where string, b *hclsyntax.Block) statement {
	t.Helper()
	s := statement{where: where, effect: "Allow"}
	if sid, ok := attrString(b.Body, "sid"); ok {
		s.where += " (" + sid + ")"
	}
	if e, ok := attrString(b.Body, "effect"); ok {
		s.effect = e
	}
	if a, ok := b.Body.Attributes["actions"]; ok {
		items, ok := tupleItems(a.Expr)
		if !ok {
			t.Errorf("%s: actions must be a literal list", s.where)
		}
		s.actions = items
	} else {
		t.Errorf("%s: statement without actions (not_actions is not allowed)", s.where)
	}
	if a, ok := b.Body.Attributes["resources"]; ok {
		items, ok := tupleItems(a.Expr)
		if !ok {
			t.Errorf("%s: resources must be a literal list", s.where)
		}
		s.resources = items
	}
	if _, ok := b.Body.Attributes["not_resources"]; ok {
		t.Errorf("%s: not_resources is not allowed", s.where)
	}
	for _, cb := range nested(b, "condition") {
		if v, ok := cb.Body.Attributes["variable"]; ok {
			s.conditions = append(s.conditions, conditionExpr{variable: v.Expr})
		}
	}
	return s
}

// checkDynamicStatement makes sure a dynamic "statement" block takes its actions, resources and
// conditions from the iterator, so the objects collectStatements checks are the whole policy.
func checkDynamicStatement(t *testing.T, where string, b *hclsyntax.Block) {
	t.Helper()
	iter := "statement"
	if a, ok := b.Body.Attributes["iterator"]; ok {
		iter = traversalRootName(a.Expr)
	}
	content := nested(b, "content")
	if len(content) != 1 {
		t.Errorf("%s: dynamic statement needs one content block", where)
		return
	}
	for _, name := range []string{"actions", "resources"} {
		a, ok := content[0].Body.Attributes[name]
		if !ok {
			t.Errorf("%s: dynamic statement content has no %s", where, name)
			continue
		}
		if traversalRoot(a.Expr) != iter+".value" {
			t.Errorf("%s: dynamic statement %s must come from %s.value", where, name, iter)
		}
	}
	if e, ok := attrString(content[0].Body, "effect"); ok && e != "Allow" {
		t.Errorf("%s: dynamic statements must be Allow statements, got %s", where, e)
	}
}

func traversalRootName(e hclsyntax.Expression) string {
	if st, ok := e.(*hclsyntax.ScopeTraversalExpr); ok {
		return st.Traversal.RootName()
	}
	return ""
}

func objectStatement(t *testing.T, where string, attrs map[string]hclsyntax.Expression, locals map[string]hclsyntax.Expression) statement {
	t.Helper()
	s := statement{where: where, effect: "Allow"}
	if e, ok := attrs["effect"]; ok {
		if v, ok := staticString(e); ok {
			s.effect = v
		}
	}
	items, ok := tupleItems(attrs["actions"])
	if !ok {
		t.Errorf("%s: actions must be a literal list", where)
	}
	s.actions = items
	res, ok := attrs["resources"]
	if !ok {
		t.Errorf("%s: statement without resources", where)
	} else if items, ok := tupleItems(res); ok {
		s.resources = items
	} else {
		// Items may be ARN templates or references such as aws_efs_file_system.data.arn, but
		// the list itself must be written out so each item can be checked.
		t.Errorf("%s: resources must be a literal list or a for expression", where)
	}
	conds, ok := attrs["conditions"]
	if !ok {
		t.Errorf("%s: statement without conditions (use [] for none)", where)
		return s
	}
	list, ok := tupleItems(conds)
	if !ok {
		s.opaqueConditions = true
		return s
	}
	for _, c := range list {
		c = resolveLocal(c, locals)
		o, ok := c.(*hclsyntax.ObjectConsExpr)
		if !ok {
			s.opaqueConditions = true
			continue
		}
		v, ok := objectAttrs(o)["variable"]
		if !ok {
			t.Errorf("%s: condition without variable", where)
			continue
		}
		s.conditions = append(s.conditions, conditionExpr{variable: v})
	}
	return s
}

// readOnly reports whether an IAM action only reads.
func readOnly(action string) bool {
	_, verb, ok := strings.Cut(action, ":")
	if !ok {
		return false
	}
	for _, p := range []string{"Describe", "Get", "List", "BatchGet", "BatchCheck"} {
		if strings.HasPrefix(verb, p) {
			return true
		}
	}
	return false
}

func (s statement) hasTagCondition() bool {
	for _, c := range s.conditions {
		p := strings.ToLower(templatePrefix(c.variable))
		if strings.HasPrefix(p, "aws:resourcetag/") || strings.Contains(p, ":resourcetag/") {
			return true
		}
	}
	return false
}

// TestSSMRunPermissions: aws.ssm.run is granted every call the action makes: sending, following,
// finding again (ListCommands, when SendCommand got no clear answer) and cancelling a command.
func TestSSMRunPermissions(t *testing.T) {
	c := loadConfig(t)
	def := c.locals("modules/bot")["action_statements"].(*hclsyntax.ObjectConsExpr)
	items, _ := tupleItems(objectAttrs(def)["aws.ssm.run"])
	granted := map[string]bool{}
	for _, it := range items {
		o, ok := it.(*hclsyntax.ObjectConsExpr)
		if !ok {
			continue
		}
		acts, _ := tupleItems(objectAttrs(o)["actions"])
		for _, a := range acts {
			if name, ok := staticString(a); ok {
				granted[name] = true
			}
		}
	}
	for _, want := range []string{"ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:ListCommands", "ssm:CancelCommand"} {
		if !granted[want] {
			t.Errorf("aws.ssm.run lacks %s (granted: %v)", want, granted)
		}
	}
}
