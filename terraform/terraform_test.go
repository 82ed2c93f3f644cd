package terraform

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// rootDirs are the configurations that are applied directly and so configure the provider.
var rootDirs = []string{"production", "bootstrap"}

// taggable and untaggable classify every AWS resource type the configuration uses, so that a new
// type cannot slip past the tagging rule unclassified.
var (
	taggable = map[string]bool{
		"aws_ecs_cluster": true, "aws_ecs_service": true, "aws_ecs_task_definition": true,
		"aws_cloudwatch_log_group": true, "aws_iam_role": true, "aws_ssm_parameter": true,
		"aws_security_group": true, "aws_vpc_security_group_egress_rule": true,
		"aws_vpc_security_group_ingress_rule": true, "aws_efs_file_system": true,
		"aws_efs_access_point": true, "aws_s3_bucket": true, "aws_dynamodb_table": true,
	}
	untaggable = map[string]bool{
		"aws_iam_role_policy": true, "aws_efs_mount_target": true, "aws_efs_backup_policy": true,
		"aws_s3_bucket_ownership_controls": true, "aws_s3_bucket_versioning": true,
		"aws_s3_bucket_server_side_encryption_configuration": true,
		"aws_s3_bucket_public_access_block":                  true, "aws_s3_bucket_lifecycle_configuration": true,
		"aws_s3_bucket_policy": true,
	}
)

func TestLayout(t *testing.T) {
	c := loadConfig(t)
	dirs := c.dirs()
	for _, want := range []string{"bootstrap", "modules/bootstrap", "modules/bot", "production"} {
		if !slices.Contains(dirs, want) {
			t.Errorf("terraform/%s has no .tf files; found %q", want, dirs)
		}
	}
	for _, dir := range dirs {
		for _, v := range c.blocks(dir, "variable", "") {
			if _, ok := v.block.Body.Attributes["description"]; !ok {
				t.Errorf("%s: variable without description", v)
			}
		}
		for _, o := range c.blocks(dir, "output", "") {
			if _, ok := o.block.Body.Attributes["description"]; !ok {
				t.Errorf("%s: output without description", o)
			}
		}
	}
}

func TestProductionBackend(t *testing.T) {
	c := loadConfig(t)
	var backends []located
	for _, tf := range c.blocks("production", "terraform", "") {
		for _, b := range nested(tf.block, "backend") {
			backends = append(backends, located{file: tf.file, block: b})
		}
	}
	if len(backends) != 1 {
		t.Fatalf("production has %d backend blocks, want 1", len(backends))
	}
	b := backends[0].block
	if len(b.Labels) != 1 || b.Labels[0] != "s3" {
		t.Fatalf("production backend is %q, want s3", b.Labels)
	}
	for _, name := range []string{"bucket", "key", "region", "dynamodb_table"} {
		if v, ok := attrString(b.Body, name); !ok || v == "" {
			t.Errorf("production s3 backend: %s must be a non-empty string", name)
		}
	}
	if a, ok := b.Body.Attributes["encrypt"]; !ok {
		t.Errorf("production s3 backend: encrypt is not set")
	} else if v, ok := staticBool(a.Expr); !ok || !v {
		t.Errorf("production s3 backend: encrypt must be true")
	}
}

func TestEveryTaggableResourceIsTagged(t *testing.T) {
	c := loadConfig(t)
	for _, dir := range rootDirs {
		providers := c.blocks(dir, "provider", "aws")
		if len(providers) == 0 {
			t.Errorf("terraform/%s configures no aws provider", dir)
		}
		for _, p := range providers {
			dt := nested(p.block, "default_tags")
			if len(dt) != 1 {
				t.Errorf("%s: want one default_tags block", p)
				continue
			}
			if _, ok := dt[0].Body.Attributes["tags"]; !ok {
				t.Errorf("%s: default_tags has no tags", p)
			}
		}
	}
	resources := c.blocks("", "resource", "")
	if len(resources) == 0 {
		t.Fatal("no resources found")
	}
	for _, r := range resources {
		typ := r.block.Labels[0]
		switch {
		case taggable[typ]:
			if _, ok := r.block.Body.Attributes["tags"]; !ok {
				t.Errorf("%s: taggable resource without tags", r)
			}
		case untaggable[typ]:
		default:
			t.Errorf("%s: resource type %s is not classified as taggable or untaggable in this test", r, typ)
		}
	}
}

func TestIAMStatements(t *testing.T) {
	c := loadConfig(t)
	statements := collectStatements(t, c)
	if len(statements) < 10 {
		t.Fatalf("found %d IAM statements, expected the task, execution, assume-role and bucket policies", len(statements))
	}
	for _, s := range statements {
		if len(s.actions) == 0 {
			t.Errorf("%s: no actions", s.where)
		}
		var actions []string
		for _, a := range s.actions {
			name, ok := staticString(a)
			if !ok {
				t.Errorf("%s: every action must be a literal string", s.where)
				continue
			}
			actions = append(actions, name)
			// A deny may be as wide as it likes; an allow names each action.
			if strings.Contains(name, "*") && s.effect != "Deny" {
				t.Errorf("%s: wildcard action %q", s.where, name)
			}
		}
		bare := false
		for _, r := range s.resources {
			v, ok := staticString(r)
			if ok && strings.TrimSpace(v) == "*" {
				bare = true
			}
		}
		if !bare {
			continue
		}
		if len(s.conditions) == 0 && !s.opaqueConditions {
			t.Errorf("%s: Resource \"*\" without a condition", s.where)
			continue
		}
		if s.opaqueConditions {
			t.Errorf("%s: Resource \"*\" with conditions that cannot be checked statically", s.where)
			continue
		}
		if s.hasTagCondition() {
			continue
		}
		for _, a := range actions {
			if !readOnly(a) && !unscopable[a] {
				t.Errorf("%s: Resource \"*\" without a tag condition allows the write action %s", s.where, a)
			}
		}
	}
}

// unscopable lists the write actions for which AWS defines no resource type and no condition
// key, so a policy can only grant them on Resource "*" (held to a region by a condition). Each
// entry must be one that cannot start or change anything on its own.
var unscopable = map[string]bool{
	"ssm:CancelCommand": true, // stops a Run Command command; starts nothing
}

// TestEnabledActionsMapping checks that the bot module maps exactly the remediation actions the
// product ships, that the variable's validation accepts the same set, and that every AWS action
// grants some permission.
func TestEnabledActionsMapping(t *testing.T) {
	c := loadConfig(t)
	want := []string{"aws.autoscaling.scale", "aws.ec2.reboot", "aws.ecs.restart", "aws.ecs.scale", "aws.ssm.run", "script", "webhook"}

	def, ok := c.locals("modules/bot")["action_statements"]
	if !ok {
		t.Fatal("modules/bot: local.action_statements is not defined")
	}
	obj, ok := def.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatal("modules/bot: local.action_statements must be an object literal")
	}
	var keys []string
	for key, val := range objectAttrs(obj) {
		keys = append(keys, key)
		items, ok := tupleItems(val)
		if !ok {
			t.Errorf("action %s: statements must be a literal list", key)
			continue
		}
		if strings.HasPrefix(key, "aws.") && len(items) == 0 {
			t.Errorf("action %s grants no permissions", key)
		}
		if !strings.HasPrefix(key, "aws.") && len(items) != 0 {
			t.Errorf("action %s needs no AWS permissions but is given %d statements", key, len(items))
		}
	}
	sort.Strings(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("action_statements maps %q, want %q", keys, want)
	}

	var accepted []string
	for _, v := range c.blocks("modules/bot", "variable", "enabled_actions") {
		for _, val := range nested(v.block, "validation") {
			cond, ok := val.Body.Attributes["condition"]
			if !ok {
				continue
			}
			walkExpr(cond.Expr, func(e hclsyntax.Expression) {
				if tmpl, ok := e.(*hclsyntax.TemplateExpr); ok {
					if s, ok := staticString(tmpl); ok {
						accepted = append(accepted, s)
					}
				}
			})
		}
	}
	sort.Strings(accepted)
	accepted = slices.Compact(accepted)
	if !slices.Equal(accepted, want) {
		t.Errorf("enabled_actions validation accepts %q, want %q", accepted, want)
	}
}

func TestBotSecurityGroupHasNoIngress(t *testing.T) {
	c := loadConfig(t)
	groups := c.blocks("modules/bot", "resource", "aws_security_group")
	var bot *located
	for i := range groups {
		if groups[i].block.Labels[1] == "bot" {
			bot = &groups[i]
		}
	}
	if bot == nil {
		t.Fatal("modules/bot: no aws_security_group.bot")
	}
	if _, ok := bot.block.Body.Attributes["ingress"]; ok {
		t.Errorf("%s: has an ingress attribute", bot)
	}
	if len(nested(bot.block, "ingress")) > 0 {
		t.Errorf("%s: has ingress blocks", bot)
	}
	egress := 0
	for _, r := range c.blocks("", "resource", "") {
		typ := r.block.Labels[0]
		sg, ok := r.block.Body.Attributes["security_group_id"]
		targetsBot := ok && strings.HasPrefix(traversalRoot(sg.Expr), "aws_security_group.bot")
		switch typ {
		case "aws_vpc_security_group_ingress_rule":
			if targetsBot {
				t.Errorf("%s: ingress rule on the bot's security group", r)
			}
		case "aws_security_group_rule":
			if kind, _ := attrString(r.block.Body, "type"); kind != "egress" && targetsBot {
				t.Errorf("%s: %q rule on the bot's security group", r, kind)
			}
		case "aws_vpc_security_group_egress_rule":
			if targetsBot {
				egress++
			}
		}
	}
	if egress == 0 {
		t.Errorf("the bot's security group has no egress rules; it could not reach chat or AWS")
	}
}

func TestStateBucketAndLockTable(t *testing.T) {
	c := loadConfig(t)
	const dir = "modules/bootstrap"
	one := func(typ string) *hclsyntax.Block {
		t.Helper()
		rs := c.blocks(dir, "resource", typ)
		if len(rs) != 1 {
			t.Fatalf("%s: want one %s, found %d", dir, typ, len(rs))
		}
		b := rs[0].block
		if typ != "aws_s3_bucket" && typ != "aws_dynamodb_table" {
			if a, ok := b.Body.Attributes["bucket"]; !ok || traversalRoot(a.Expr) != "aws_s3_bucket.state" {
				t.Errorf("%s must apply to aws_s3_bucket.state", typ)
			}
		}
		return b
	}
	one("aws_s3_bucket")

	v := one("aws_s3_bucket_versioning")
	vc := nested(v, "versioning_configuration")
	if len(vc) != 1 {
		t.Fatal("aws_s3_bucket_versioning: no versioning_configuration")
	}
	if s, _ := attrString(vc[0].Body, "status"); s != "Enabled" {
		t.Errorf("state bucket versioning status %q, want Enabled", s)
	}

	enc := one("aws_s3_bucket_server_side_encryption_configuration")
	algo := ""
	for _, rule := range nested(enc, "rule") {
		for _, d := range nested(rule, "apply_server_side_encryption_by_default") {
			algo, _ = attrString(d.Body, "sse_algorithm")
		}
	}
	if algo != "aws:kms" && algo != "AES256" {
		t.Errorf("state bucket sse_algorithm %q, want aws:kms or AES256", algo)
	}

	pab := one("aws_s3_bucket_public_access_block")
	for _, name := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
		a, ok := pab.Body.Attributes[name]
		if !ok {
			t.Errorf("public access block: %s not set", name)
			continue
		}
		if v, ok := staticBool(a.Expr); !ok || !v {
			t.Errorf("public access block: %s must be true", name)
		}
	}

	one("aws_s3_bucket_policy")
	tlsOnly := false
	for _, doc := range c.blocks(dir, "data", "aws_iam_policy_document") {
		for _, st := range nested(doc.block, "statement") {
			if e, _ := attrString(st.Body, "effect"); e != "Deny" {
				continue
			}
			for _, cond := range nested(st, "condition") {
				variable, _ := attrString(cond.Body, "variable")
				test, _ := attrString(cond.Body, "test")
				vals, ok := staticValue(cond.Body.Attributes["values"].Expr)
				if variable == "aws:SecureTransport" && test == "Bool" && ok &&
					vals.Type().IsTupleType() && vals.LengthInt() == 1 && vals.Index(cty.NumberIntVal(0)).AsString() == "false" {
					tlsOnly = true
				}
			}
		}
	}
	if !tlsOnly {
		t.Errorf("state bucket policy does not deny requests with aws:SecureTransport = false")
	}

	table := one("aws_dynamodb_table")
	if s, _ := attrString(table.Body, "billing_mode"); s != "PAY_PER_REQUEST" {
		t.Errorf("lock table billing_mode %q, want PAY_PER_REQUEST", s)
	}
	if s, _ := attrString(table.Body, "hash_key"); s != "LockID" {
		t.Errorf("lock table hash_key %q, want LockID", s)
	}
	lockID := false
	for _, a := range nested(table, "attribute") {
		name, _ := attrString(a.Body, "name")
		typ, _ := attrString(a.Body, "type")
		lockID = lockID || (name == "LockID" && typ == "S")
	}
	if !lockID {
		t.Errorf("lock table has no string attribute LockID")
	}
}
