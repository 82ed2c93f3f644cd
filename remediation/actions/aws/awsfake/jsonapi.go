package awsfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// routeJSON decodes an AWS JSON 1.1 request and returns its operation and handler.
func (s *Server) routeJSON(r *http.Request, prefix string, body []byte, rec *Request) (string, func() (any, *apiError)) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, prefix)
	bad := func(code, format string, args ...any) func() (any, *apiError) {
		return func() (any, *apiError) { return nil, errorf(http.StatusBadRequest, code, format, args...) }
	}
	if !ok || r.Method != http.MethodPost {
		return op, bad("UnknownOperationException", "X-Amz-Target %q is not an operation of this service", target)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		return op, bad("SerializationException", "Content-Type %q, want application/x-amz-json-1.1", ct)
	}
	if err := json.Unmarshal(body, &rec.JSON); err != nil {
		return op, bad("SerializationException", "body is not a JSON object: %v", err)
	}
	decode := func(v any) *apiError {
		if err := json.Unmarshal(body, v); err != nil {
			return errorf(http.StatusBadRequest, "SerializationException", "%v", err)
		}
		return nil
	}
	handlers := map[string]func(func(any) *apiError) (any, *apiError){
		"DescribeServices":     s.describeServices,
		"UpdateService":        s.updateService,
		"SendCommand":          s.sendCommand,
		"ListCommands":         s.listCommands,
		"GetCommandInvocation": s.getCommandInvocation,
		"CancelCommand":        s.cancelCommand,
		"GetParameter":         s.getParameter,
	}
	h, found := handlers[op]
	if !found || strings.TrimSuffix(prefix, ".") != prefixOf(serviceOf(op)) {
		return op, bad("UnknownOperationException", "unknown operation %s", target)
	}
	return op, func() (any, *apiError) { return h(decode) }
}

func prefixOf(service string) string { return strings.TrimSuffix(services[service].targetPrefix, ".") }

// ---- ECS ----

func (s *Server) cluster(name string) (string, map[string]*Service, *apiError) {
	if name == "" {
		name = "default"
	}
	if i := strings.LastIndex(name, "/"); strings.HasPrefix(name, "arn:") && i >= 0 {
		name = name[i+1:]
	}
	svcs, ok := s.clusters[name]
	if !ok {
		return name, nil, errorf(http.StatusBadRequest, "ClusterNotFoundException", "Cluster not found.")
	}
	return name, svcs, nil
}

func (s *Server) serviceJSON(svc *Service) map[string]any {
	deployments := []map[string]any{{
		"id": fmt.Sprintf("ecs-svc/%d", svc.Deployments), "status": "PRIMARY",
		"desiredCount": svc.Desired, "runningCount": svc.Running, "rolloutState": "IN_PROGRESS",
		"createdAt": epoch(svc.DeployedAt), "updatedAt": epoch(svc.DeployedAt),
	}}
	return map[string]any{
		"serviceName":  svc.Name,
		"serviceArn":   fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", s.o.Region, AccountID, svc.Cluster, svc.Name),
		"clusterArn":   fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", s.o.Region, AccountID, svc.Cluster),
		"status":       svc.Status,
		"desiredCount": svc.Desired,
		"runningCount": svc.Running,
		"pendingCount": 0,
		"launchType":   "FARGATE",
		"deployments":  deployments,
	}
}

func (s *Server) describeServices(decode func(any) *apiError) (any, *apiError) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
	}
	if e := decode(&in); e != nil {
		return nil, e
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException", "services must name between 1 and 10 services")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cluster, svcs, e := s.cluster(in.Cluster)
	if e != nil {
		return nil, e
	}
	out := []map[string]any{}
	failures := []map[string]any{}
	for _, name := range in.Services {
		if svc, ok := svcs[name]; ok {
			out = append(out, s.serviceJSON(svc))
		} else {
			failures = append(failures, map[string]any{
				"arn": fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", s.o.Region, AccountID, cluster, name), "reason": "MISSING"})
		}
	}
	return map[string]any{"services": out, "failures": failures}, nil
}

func (s *Server) updateService(decode func(any) *apiError) (any, *apiError) {
	var in struct {
		Cluster            string `json:"cluster"`
		Service            string `json:"service"`
		DesiredCount       *int32 `json:"desiredCount"`
		ForceNewDeployment bool   `json:"forceNewDeployment"`
	}
	if e := decode(&in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, svcs, e := s.cluster(in.Cluster)
	if e != nil {
		return nil, e
	}
	svc, ok := svcs[in.Service]
	if !ok {
		return nil, errorf(http.StatusBadRequest, "ServiceNotFoundException", "Service not found.")
	}
	if svc.Status != "ACTIVE" {
		return nil, errorf(http.StatusBadRequest, "ServiceNotActiveException", "Service was not ACTIVE.")
	}
	if in.DesiredCount != nil {
		if *in.DesiredCount < 0 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterException", "desiredCount can not be negative.")
		}
		svc.Desired = *in.DesiredCount
	}
	if in.ForceNewDeployment {
		svc.Deployments++
		svc.DeployedAt = s.o.Now()
	}
	return map[string]any{"service": s.serviceJSON(svc)}, nil
}

// ---- SSM ----

var ssmDocuments = map[string]bool{"AWS-RunShellScript": true, "AWS-RunPowerShellScript": true}

func (s *Server) sendCommand(decode func(any) *apiError) (any, *apiError) {
	var in struct {
		DocumentName string              `json:"DocumentName"`
		InstanceIDs  []string            `json:"InstanceIds"`
		Parameters   map[string][]string `json:"Parameters"`
		Comment      string              `json:"Comment"`
	}
	if e := decode(&in); e != nil {
		return nil, e
	}
	if len(in.Comment) > 100 {
		return nil, errorf(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	if !ssmDocuments[in.DocumentName] {
		return nil, errorf(http.StatusBadRequest, "InvalidDocument", "Document %s does not exist in your account.", in.DocumentName)
	}
	if len(in.InstanceIDs) == 0 || len(in.InstanceIDs) > 50 {
		return nil, errorf(http.StatusBadRequest, "ValidationException", "InstanceIds must name between 1 and 50 instances")
	}
	cmds := in.Parameters["commands"]
	if len(cmds) == 0 {
		return nil, errorf(http.StatusBadRequest, "InvalidParameters", "The parameter commands is required.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range in.InstanceIDs {
		if inst, ok := s.insts[id]; !ok || inst.State != "running" {
			return nil, errorf(http.StatusBadRequest, "InvalidInstanceId", "Instances [[%s]] not in a valid state for account %s", id, AccountID)
		}
	}
	c := &command{id: s.nextID(""), document: in.DocumentName, comment: in.Comment, requested: s.o.Now(),
		instances: append([]string(nil), in.InstanceIDs...), invs: map[string]*Invocation{}}
	for _, id := range in.InstanceIDs {
		c.invs[id] = &Invocation{CommandID: c.id, InstanceID: id, Document: in.DocumentName,
			Commands: append([]string(nil), cmds...), Status: "Pending"}
	}
	s.commands[c.id] = c
	return map[string]any{"Command": map[string]any{
		"CommandId": c.id, "DocumentName": c.document, "InstanceIds": in.InstanceIDs,
		"Status": "Pending", "TargetCount": len(in.InstanceIDs),
		"Parameters": in.Parameters, "Comment": in.Comment, "RequestedDateTime": epoch(c.requested),
	}}, nil
}

// epoch is how AWS JSON 1.1 writes a timestamp: seconds since 1970 as a number.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// listCommands answers ListCommands with the commands that match CommandId, InstanceId and the
// InvokedAfter and InvokedBefore filters, newest first.
func (s *Server) listCommands(decode func(any) *apiError) (any, *apiError) {
	var in struct {
		CommandID  string `json:"CommandId"`
		InstanceID string `json:"InstanceId"`
		Filters    []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"Filters"`
	}
	if e := decode(&in); e != nil {
		return nil, e
	}
	var after, before time.Time
	for _, f := range in.Filters {
		t, err := time.Parse(time.RFC3339, f.Value)
		switch {
		case f.Key != "InvokedAfter" && f.Key != "InvokedBefore":
			return nil, errorf(http.StatusBadRequest, "InvalidFilterKey", "The filter key %s is not supported by the fake.", f.Key)
		case err != nil:
			return nil, errorf(http.StatusBadRequest, "InvalidFilterValue", "%s is not an ISO 8601 time such as 2024-01-02T03:04:05Z", f.Value)
		case f.Key == "InvokedAfter":
			after = t
		default:
			before = t
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.CommandID != "" && s.commands[in.CommandID] == nil {
		return nil, errorf(http.StatusBadRequest, "InvalidCommandId", "")
	}
	var found []*command
	for _, c := range s.commands {
		switch {
		case in.CommandID != "" && c.id != in.CommandID:
		case in.InstanceID != "" && c.invs[in.InstanceID] == nil:
		case !after.IsZero() && c.requested.Before(after):
		case !before.IsZero() && c.requested.After(before):
		default:
			found = append(found, c)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].requested.After(found[j].requested) })
	out := make([]map[string]any, 0, len(found))
	for _, c := range found {
		status := "Success"
		for _, inv := range c.invs {
			if !terminalStatus[inv.Status] {
				status = "InProgress"
			} else if inv.Status != "Success" && status == "Success" {
				status = inv.Status
			}
		}
		out = append(out, map[string]any{"CommandId": c.id, "DocumentName": c.document, "Comment": c.comment,
			"InstanceIds": c.instances, "RequestedDateTime": epoch(c.requested), "Status": status, "TargetCount": len(c.instances)})
	}
	return map[string]any{"Commands": out}, nil
}

var terminalStatus = map[string]bool{"Success": true, "Failed": true, "TimedOut": true, "Cancelled": true}

func (s *Server) getCommandInvocation(decode func(any) *apiError) (any, *apiError) {
	var in struct {
		CommandID  string `json:"CommandId"`
		InstanceID string `json:"InstanceId"`
	}
	if e := decode(&in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	c, ok := s.commands[in.CommandID]
	var inv *Invocation
	if ok {
		inv = c.invs[in.InstanceID]
	}
	if inv == nil {
		s.mu.Unlock()
		return nil, errorf(http.StatusBadRequest, "InvocationDoesNotExist", "")
	}
	inv.Polls++
	if inv.Polls <= s.o.InvocationLag {
		s.mu.Unlock()
		return nil, errorf(http.StatusBadRequest, "InvocationDoesNotExist", "")
	}
	finish := !terminalStatus[inv.Status] && inv.Polls > s.o.InvocationLag+s.o.CompleteAfterPolls
	if !terminalStatus[inv.Status] && !finish {
		inv.Status = "InProgress"
	}
	cmds := append([]string(nil), inv.Commands...)
	s.mu.Unlock()

	if finish {
		// CommandResult is the test's code; call it without the lock.
		res := s.o.CommandResult(in.InstanceID, cmds)
		if !terminalStatus[res.Status] {
			res.Status = "Failed"
		}
		if res.Status != "Success" && res.ResponseCode == 0 {
			res.ResponseCode = 1
		}
		s.mu.Lock()
		if !terminalStatus[inv.Status] {
			inv.Status, inv.Result = res.Status, res
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{
		"CommandId": inv.CommandID, "InstanceId": inv.InstanceID, "DocumentName": inv.Document,
		"Status": inv.Status, "StatusDetails": inv.Status, "ResponseCode": -1,
		"StandardOutputContent": "", "StandardErrorContent": "",
	}
	if terminalStatus[inv.Status] {
		out["ResponseCode"] = inv.Result.ResponseCode
		out["StandardOutputContent"] = inv.Result.Stdout
		out["StandardErrorContent"] = inv.Result.Stderr
	}
	return out, nil
}

func (s *Server) cancelCommand(decode func(any) *apiError) (any, *apiError) {
	var in struct {
		CommandID   string   `json:"CommandId"`
		InstanceIDs []string `json:"InstanceIds"`
	}
	if e := decode(&in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.commands[in.CommandID]
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidCommandId", "")
	}
	ids := in.InstanceIDs
	if len(ids) == 0 {
		for id := range c.invs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
	}
	for _, id := range ids {
		if inv, ok := c.invs[id]; ok && !terminalStatus[inv.Status] {
			inv.Status = "Cancelled"
			inv.Result = CommandResult{Status: "Cancelled", ResponseCode: -1}
		}
	}
	return map[string]any{}, nil
}

func (s *Server) getParameter(decode func(any) *apiError) (any, *apiError) {
	var in struct {
		Name           string `json:"Name"`
		WithDecryption bool   `json:"WithDecryption"`
	}
	if e := decode(&in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	p, ok := s.params[in.Name]
	s.mu.Unlock()
	if !ok {
		return nil, errorf(http.StatusBadRequest, "ParameterNotFound", "")
	}
	value := p.Value
	if p.Type == "SecureString" && !in.WithDecryption {
		// The real service returns the KMS ciphertext; any opaque text serves the same purpose.
		value = "AQICAH" + base64.StdEncoding.EncodeToString([]byte(p.Value))
	}
	return map[string]any{"Parameter": map[string]any{
		"Name": p.Name, "Type": p.Type, "Value": value, "Version": 1, "DataType": "text",
		"ARN": fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.o.Region, AccountID, strings.TrimPrefix(p.Name, "/")),
	}}, nil
}
