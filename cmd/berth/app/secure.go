package app

import (
	"fmt"
	"net"
	"net/http"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericserver "k8s.io/apiserver/pkg/server"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	apiserveroptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/kubernetes/scheme"
	netutils "k8s.io/utils/net"
)

// DefaultSecurePort is the conventional port of berth's HTTPS endpoint in
// the manifests (kube-scheduler uses 10259). The flag's default is 0 (off)
// so that several berth processes can run on one machine in development;
// deploy/ and the Helm chart set --secure-port explicitly.
const DefaultSecurePort = 10359

// SecureServingOptions configure the HTTPS endpoint that serves /metrics
// and /debug/pprof with authentication and authorization delegated to the
// API server (TokenReview, SubjectAccessReview), exactly like
// kube-scheduler. /healthz, /livez and /readyz are always allowed, so
// kubelet probes work without credentials.
type SecureServingOptions struct {
	SecureServing  *apiserveroptions.SecureServingOptions
	Authentication *apiserveroptions.DelegatingAuthenticationOptions
	Authorization  *apiserveroptions.DelegatingAuthorizationOptions
}

// NewSecureServingOptions returns kube-scheduler's defaults: a certificate
// generated in memory unless --tls-cert-file or --cert-dir is given,
// in-cluster (or --kubeconfig) clients for TokenReview and
// SubjectAccessReview, client certificates verified against the CA in
// kube-system/extension-apiserver-authentication, members of
// system:masters always allowed, and the health paths open. The port is
// 0 (disabled) until set.
func NewSecureServingOptions() *SecureServingOptions {
	o := &SecureServingOptions{
		SecureServing:  apiserveroptions.NewSecureServingOptions(),
		Authentication: apiserveroptions.NewDelegatingAuthenticationOptions(),
		Authorization:  apiserveroptions.NewDelegatingAuthorizationOptions(),
	}
	o.Authentication.TolerateInClusterLookupFailure = true
	o.Authentication.RemoteKubeConfigFileOptional = true
	o.Authorization.RemoteKubeConfigFileOptional = true
	o.SecureServing.ServerCert.CertDirectory = ""
	o.SecureServing.ServerCert.PairName = "berth"
	o.SecureServing.BindPort = 0
	return o
}

// addServingFlags registers the secure serving, delegated authentication
// and authorization flags (the same names as kube-scheduler's) and returns
// the options they fill.
func addServingFlags(fs *pflag.FlagSet) *SecureServingOptions {
	o := NewSecureServingOptions()
	o.SecureServing.AddFlags(fs)
	o.Authentication.AddFlags(fs)
	o.Authorization.AddFlags(fs)
	// Make the secure port's help say what berth serves there.
	if f := fs.Lookup("secure-port"); f != nil {
		f.Usage = fmt.Sprintf("HTTPS port for /metrics and /debug/pprof (authenticated and authorized through the API server) and the open /healthz, /livez, /readyz; 0 disables (the manifests use %d)", DefaultSecurePort)
	}
	return o
}

// enabled reports whether the secure endpoint is to be served.
func (o *SecureServingOptions) enabled() bool {
	return o != nil && o.SecureServing != nil && (o.SecureServing.BindPort > 0 || o.SecureServing.Listener != nil)
}

// secureServing is the applied configuration.
type secureServing struct {
	info  *genericserver.SecureServingInfo
	authn authenticator.Request
	authz authorizer.Authorizer
}

// apply validates the options, generates a self-signed certificate if none
// is configured, opens the listener and builds the delegating
// authenticator and authorizer. kubeconfig, if not empty, is used for
// TokenReview and SubjectAccessReview unless --authentication-kubeconfig /
// --authorization-kubeconfig say otherwise; empty means in-cluster.
func (o *SecureServingOptions) apply(kubeconfig string) (*secureServing, error) {
	if !o.enabled() {
		return nil, nil
	}
	if kubeconfig != "" {
		if o.Authentication.RemoteKubeConfigFile == "" {
			o.Authentication.RemoteKubeConfigFile = kubeconfig
		}
		if o.Authorization.RemoteKubeConfigFile == "" {
			o.Authorization.RemoteKubeConfigFile = kubeconfig
		}
	}
	var errs []error
	errs = append(errs, o.SecureServing.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("secure serving options: %v", errs)
	}
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("secure serving: %w", err)
	}
	s := &secureServing{}
	if err := o.SecureServing.ApplyTo(&s.info); err != nil {
		return nil, fmt.Errorf("secure serving: %w", err)
	}
	var authn genericserver.AuthenticationInfo
	if err := o.Authentication.ApplyTo(&authn, s.info, nil); err != nil {
		closeListener(s.info)
		return nil, fmt.Errorf("delegated authentication: %w", err)
	}
	var authz genericserver.AuthorizationInfo
	if err := o.Authorization.ApplyTo(&authz); err != nil {
		closeListener(s.info)
		return nil, fmt.Errorf("delegated authorization: %w", err)
	}
	s.authn, s.authz = authn.Authenticator, authz.Authorizer
	return s, nil
}

func closeListener(info *genericserver.SecureServingInfo) {
	if info != nil && info.Listener != nil {
		_ = info.Listener.Close()
	}
}

// handler wraps h with kube-scheduler's filter chain: authentication
// (client certificate, TokenReview, else anonymous), authorization
// (always-allow paths and groups, else SubjectAccessReview on the
// non-resource URL with the HTTP verb: get /metrics), no caching, panic
// recovery.
func (s *secureServing) handler(h http.Handler) http.Handler {
	resolver := &apirequest.RequestInfoFactory{}
	failed := genericapifilters.Unauthorized(scheme.Codecs)
	h = genericapifilters.WithAuthorization(h, s.authz, scheme.Codecs)
	h = genericapifilters.WithAuthentication(h, s.authn, failed, nil, nil)
	h = genericapifilters.WithRequestInfo(h, resolver)
	h = genericapifilters.WithCacheControl(h)
	h = genericfilters.WithPanicRecovery(h, resolver)
	return h
}
