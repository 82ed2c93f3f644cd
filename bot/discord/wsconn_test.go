package discord

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcloudops/smartcloudops/internal/obs"
)

// FuzzGatewayFrame feeds gateway payloads, which come from outside, through the decoding and
// dispatch a connection does: nothing may panic, whatever Discord (or a proxy) sends.
func FuzzGatewayFrame(f *testing.F) {
	for _, seed := range []string{
		`{"op":0,"s":3,"t":"READY","d":{"session_id":"s1","resume_gateway_url":"wss://resume.example"}}`,
		`{"op":0,"s":4,"t":"INTERACTION_CREATE","d":{"id":"1","application_id":"APP1","type":2,"token":"t","data":{"id":"C","name":"ops","type":1}}}`,
		`{"op":0,"s":5,"t":"INTERACTION_CREATE","d":{"type":3,"data":{"custom_id":"approve:p-1","component_type":2}}}`,
		`{"op":0,"s":-1,"t":"READY","d":[]}`,
		`{"op":9,"d":false}`,
		`{"op":10,"d":{"heartbeat_interval":41250}}`,
		`{"op":0,"t":"INTERACTION_CREATE","d":"x"}`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	a, err := New(Options{Token: "t", ApplicationID: "APP1", Logger: obs.Discard(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			return
		}
		var sess session
		c := &conn{a: a, sess: &sess}
		c.dispatch(fr)
		c.handlers.Wait()
	})
}
