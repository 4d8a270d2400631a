package app

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
)

func TestServingFlags(t *testing.T) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o := addServingFlags(fs)
	if o.enabled() {
		t.Fatal("secure serving is on by default; want off until --secure-port is set")
	}
	if s, err := o.apply(""); s != nil || err != nil {
		t.Fatalf("apply with port 0 = %v, %v; want nothing", s, err)
	}
	if err := fs.Parse([]string{"--secure-port=10359", "--bind-address=127.0.0.1", "--authorization-always-allow-paths=/healthz,/livez,/readyz"}); err != nil {
		t.Fatal(err)
	}
	if !o.enabled() || o.SecureServing.BindPort != DefaultSecurePort {
		t.Errorf("--secure-port not applied: %+v", o.SecureServing)
	}
	want := map[string]bool{"/healthz": true, "/livez": true, "/readyz": true}
	for _, p := range o.Authorization.AlwaysAllowPaths {
		delete(want, p)
	}
	if len(want) > 0 {
		t.Errorf("always-allowed paths %v lack %v", o.Authorization.AlwaysAllowPaths, want)
	}
	for _, name := range []string{"tls-cert-file", "tls-private-key-file", "cert-dir", "authentication-kubeconfig", "authorization-kubeconfig", "client-ca-file"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s not registered", name)
		}
	}
}

func TestNewServerSecureDisabled(t *testing.T) {
	s, err := newServer(&RunOptions{HealthAddress: "0"}, prometheus.NewRegistry(), nil)
	if err != nil || s.secure != nil {
		t.Fatalf("newServer without Secure = %+v, %v", s, err)
	}
}
