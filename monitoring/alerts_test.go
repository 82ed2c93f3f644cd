package monitoring

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	data, err := fs.ReadFile(Files(), AlertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatalf("parse %s: %v", AlertRulesFile, err)
	}
	var out []alertRule
	for _, g := range rf.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no rules", AlertRulesFile)
	}
	return out
}

// TestAlertsRequiredSet pins the alerts the operations runbook promises.
func TestAlertsRequiredSet(t *testing.T) {
	have := make(map[string]alertRule)
	for _, a := range loadAlerts(t) {
		have[a.Alert] = a
	}
	want := map[string]string{
		"HostHighCpu":                     "3m",
		"HostHighMemory":                  "5m",
		"HostDiskFillingUp":               "15m",
		"HostDiskAlmostFull":              "5m",
		"NodeDown":                        "2m",
		"SmartCloudOpsDown":               "2m",
		"SmartCloudOpsTargetMissing":      "10m",
		"SmartCloudOpsCheckFailing":       "5m",
		"SmartCloudOpsActionsFailing":     "",
		"SmartCloudOpsConfigReloadFailed": "5m",
		"SmartCloudOpsChatDisconnected":   "5m",
		"SmartCloudOpsProposalsUnknown":   "15m",
		"SmartCloudOpsAuditStalled":       "",
	}
	for name, forDur := range want {
		a, ok := have[name]
		if !ok {
			t.Errorf("alert %s is missing", name)
			continue
		}
		if a.For != forDur {
			t.Errorf("alert %s: for %q, want %q", name, a.For, forDur)
		}
	}
	if !strings.Contains(have["HostHighCpu"].Expr, "> 90") {
		t.Errorf("HostHighCpu must fire above 90%%: %s", have["HostHighCpu"].Expr)
	}
	if !strings.Contains(have["SmartCloudOpsCheckFailing"].Expr, "smartcloudops_check_up == 0") {
		t.Errorf("SmartCloudOpsCheckFailing must fire on check_up == 0: %s", have["SmartCloudOpsCheckFailing"].Expr)
	}
}

var headingRE = regexp.MustCompile(`(?m)^#{2,4} +(\S+) *$`)

func TestAlertsLabelsAnnotationsAndRunbooks(t *testing.T) {
	runbook, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatalf("read runbook: %v", err)
	}
	headings := make(map[string]bool)
	for _, m := range headingRE.FindAllStringSubmatch(string(runbook), -1) {
		headings[strings.ToLower(m[1])] = true
	}
	seen := make(map[string]bool)
	for _, a := range loadAlerts(t) {
		if a.Alert == "" {
			continue
		}
		if seen[a.Alert] {
			t.Errorf("alert %s defined twice", a.Alert)
		}
		seen[a.Alert] = true
		if s := a.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("alert %s: severity %q, want critical or warning", a.Alert, s)
		}
		wantComponent := "host"
		if strings.HasPrefix(a.Alert, "SmartCloudOps") {
			wantComponent = "smartcloudops"
		}
		if c := a.Labels["component"]; c != wantComponent {
			t.Errorf("alert %s: component %q, want %q", a.Alert, c, wantComponent)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("alert %s: annotation %s is empty", a.Alert, k)
			}
		}
		anchor := strings.ToLower(a.Alert)
		if !strings.HasSuffix(a.Annotations["runbook_url"], "docs/operations.md#"+anchor) {
			t.Errorf("alert %s: runbook_url %q, want it to end in docs/operations.md#%s", a.Alert, a.Annotations["runbook_url"], anchor)
		}
		if !headings[anchor] {
			t.Errorf("alert %s: docs/operations.md has no heading %q", a.Alert, a.Alert)
		}
	}
}

// TestAlertsHaveUnitTests checks that tests/*.yml exercise every alert both firing and silent,
// so promtool proves each expression does what its name says.
func TestAlertsHaveUnitTests(t *testing.T) {
	files, err := fs.Glob(Files(), RuleTestsDir+"/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("rule tests: %q, %v", files, err)
	}
	fires := make(map[string]bool)
	silent := make(map[string]bool)
	for _, f := range files {
		data, err := fs.ReadFile(Files(), f)
		if err != nil {
			t.Fatal(err)
		}
		var rt struct {
			RuleFiles []string `yaml:"rule_files"`
			Tests     []struct {
				Name          string `yaml:"name"`
				AlertRuleTest []struct {
					EvalTime  string           `yaml:"eval_time"`
					Alertname string           `yaml:"alertname"`
					ExpAlerts []map[string]any `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(data, &rt); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		if len(rt.RuleFiles) != 1 || rt.RuleFiles[0] != "../"+AlertRulesFile {
			t.Errorf("%s: rule_files %q, want [../%s]", f, rt.RuleFiles, AlertRulesFile)
		}
		for _, tc := range rt.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
				} else {
					fires[at.Alertname] = true
				}
			}
		}
	}
	defined := make(map[string]bool)
	for _, a := range loadAlerts(t) {
		if a.Alert == "" {
			continue
		}
		defined[a.Alert] = true
		var missing []string
		if !fires[a.Alert] {
			missing = append(missing, "a firing case")
		}
		if !silent[a.Alert] {
			missing = append(missing, "a silent case")
		}
		if len(missing) > 0 {
			t.Errorf("alert %s: tests/*.yml lack %s", a.Alert, strings.Join(missing, " and "))
		}
	}
	for _, tested := range []map[string]bool{fires, silent} {
		for name := range tested {
			if !defined[name] {
				t.Errorf("tests/*.yml test alert %s, which %s does not define", name, AlertRulesFile)
			}
		}
	}
}
