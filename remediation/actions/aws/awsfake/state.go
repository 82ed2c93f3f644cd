package awsfake

import (
	"fmt"
	"sort"
	"time"
)

// Group is an Auto Scaling group.
type Group struct {
	Name                  string
	Min, Max, Desired     int32
	DesiredCapacityWrites int // SetDesiredCapacity calls that changed or confirmed it
	LastHonorCooldown     bool
}

// Service is an ECS service.
type Service struct {
	Cluster, Name    string
	Desired, Running int32
	Deployments      int       // deployments started; a new one on each forced deployment
	DeployedAt       time.Time // when the latest deployment started; defaults to the server clock
	Status           string    // defaults to ACTIVE
}

// Instance is an EC2 instance, also known to SSM.
type Instance struct {
	ID      string
	State   string // defaults to running
	Reboots int
}

// Parameter is an SSM parameter.
type Parameter struct {
	Name  string
	Value string
	Type  string // String, StringList or SecureString; defaults to String
}

// Invocation is one SSM command on one instance.
type Invocation struct {
	CommandID, InstanceID, Document string
	Commands                        []string
	Status                          string
	Polls                           int
	Result                          CommandResult
}

type command struct {
	id        string
	document  string
	comment   string
	requested time.Time
	instances []string
	invs      map[string]*Invocation
}

// PutGroup creates or replaces an Auto Scaling group.
func (s *Server) PutGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[g.Name] = &g
}

// Group returns the current state of a group.
func (s *Server) Group(name string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return Group{}, false
	}
	return *g, true
}

// PutService creates or replaces an ECS service, creating its cluster if needed.
func (s *Server) PutService(svc Service) {
	if svc.Status == "" {
		svc.Status = "ACTIVE"
	}
	if svc.Deployments == 0 {
		svc.Deployments = 1
	}
	if svc.DeployedAt.IsZero() {
		svc.DeployedAt = s.o.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clusters[svc.Cluster] == nil {
		s.clusters[svc.Cluster] = map[string]*Service{}
	}
	s.clusters[svc.Cluster][svc.Name] = &svc
}

// Service returns the current state of an ECS service.
func (s *Server) Service(cluster, name string) (Service, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.clusters[cluster][name]
	if !ok {
		return Service{}, false
	}
	return *svc, true
}

// PutInstance creates or replaces an EC2 instance.
func (s *Server) PutInstance(i Instance) {
	if i.State == "" {
		i.State = "running"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insts[i.ID] = &i
}

// Instance returns the current state of an instance.
func (s *Server) Instance(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.insts[id]
	if !ok {
		return Instance{}, false
	}
	return *i, true
}

// PutParameter creates or replaces an SSM parameter.
func (s *Server) PutParameter(p Parameter) {
	if p.Type == "" {
		p.Type = "String"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params[p.Name] = p
}

// Invocations returns every SSM command invocation, ordered by command then instance.
func (s *Server) Invocations() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Invocation
	for _, c := range s.commands {
		for _, inv := range c.invs {
			cp := *inv
			cp.Commands = append([]string(nil), inv.Commands...)
			out = append(out, cp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CommandID != out[j].CommandID {
			return out[i].CommandID < out[j].CommandID
		}
		return out[i].InstanceID < out[j].InstanceID
	})
	return out
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08x-0000-4000-8000-%012d", prefix, s.seq, s.seq)
}
