package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

const asgNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// routeQuery decodes an AWS Query request and returns its operation and handler.
func (s *Server) routeQuery(r *http.Request, service, version string, body []byte, rec *Request) (string, func() (any, *apiError)) {
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return "", func() (any, *apiError) {
			return nil, errorf(http.StatusBadRequest, "MalformedQueryString", "want a form-encoded POST body")
		}
	}
	rec.Form = form
	op := form.Get("Action")
	if form.Get("Version") != version {
		return op, func() (any, *apiError) {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "unsupported Version %q, want %s", form.Get("Version"), version)
		}
	}
	handlers := map[string]func(url.Values) (any, *apiError){
		"DescribeAutoScalingGroups": s.describeGroups,
		"SetDesiredCapacity":        s.setDesiredCapacity,
		"RebootInstances":           s.rebootInstances,
	}
	h, ok := handlers[op]
	if !ok || serviceOf(op) != service {
		return op, func() (any, *apiError) {
			return nil, errorf(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", op)
		}
	}
	return op, func() (any, *apiError) { return h(form) }
}

// members collects list parameters encoded as prefix.1, prefix.2, ...
func members(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *Server) describeGroups(form url.Values) (any, *apiError) {
	names := members(form, "AutoScalingGroupNames.member")
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(names) == 0 {
		for n := range s.groups {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<DescribeAutoScalingGroupsResponse xmlns="%s"><DescribeAutoScalingGroupsResult><AutoScalingGroups>`, asgNS)
	for _, n := range names {
		g, ok := s.groups[n]
		if !ok {
			continue // the real service omits unknown names rather than failing
		}
		fmt.Fprintf(&b, `<member><AutoScalingGroupName>%s</AutoScalingGroupName>`+
			`<AutoScalingGroupARN>arn:aws:autoscaling:%s:%s:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s</AutoScalingGroupARN>`+
			`<MinSize>%d</MinSize><MaxSize>%d</MaxSize><DesiredCapacity>%d</DesiredCapacity><DefaultCooldown>300</DefaultCooldown>`+
			`<AvailabilityZones><member>%sa</member></AvailabilityZones><HealthCheckType>EC2</HealthCheckType>`+
			`<CreatedTime>2024-01-01T00:00:00Z</CreatedTime><Instances/></member>`,
			esc(g.Name), s.o.Region, AccountID, esc(g.Name), g.Min, g.Max, g.Desired, s.o.Region)
	}
	b.WriteString(`</AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>{{RequestId}}</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`)
	return b.String(), nil
}

func (s *Server) setDesiredCapacity(form url.Values) (any, *apiError) {
	name := form.Get("AutoScalingGroupName")
	desired, err := strconv.ParseInt(form.Get("DesiredCapacity"), 10, 32)
	if name == "" || err != nil {
		return nil, errorf(http.StatusBadRequest, "ValidationError", "AutoScalingGroupName and a numeric DesiredCapacity are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return nil, errorf(http.StatusBadRequest, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	if int32(desired) > g.Max {
		return nil, errorf(http.StatusBadRequest, "ValidationError", "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.Max)
	}
	if int32(desired) < g.Min {
		return nil, errorf(http.StatusBadRequest, "ValidationError", "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.Min)
	}
	g.Desired = int32(desired)
	g.DesiredCapacityWrites++
	g.LastHonorCooldown = form.Get("HonorCooldown") == "true"
	return fmt.Sprintf(`<SetDesiredCapacityResponse xmlns="%s"><ResponseMetadata><RequestId>{{RequestId}}</RequestId></ResponseMetadata></SetDesiredCapacityResponse>`, asgNS), nil
}

func (s *Server) rebootInstances(form url.Values) (any, *apiError) {
	ids := members(form, "InstanceId")
	if len(ids) == 0 {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []string
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") || len(id) < 3 {
			return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
		if _, ok := s.insts[id]; !ok {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	default:
		return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	if form.Get("DryRun") == "true" {
		return nil, errorf(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	for _, id := range ids {
		s.insts[id].Reboots++
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<RebootInstancesResponse xmlns="%s"><requestId>{{RequestId}}</requestId><return>true</return></RebootInstancesResponse>`, ec2NS), nil
}
