package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/pkg/framework"
)

// APIVersion and Kind accepted in config files.
const (
	APIVersion = "kubescheduler.config.k8s.io/v1"
	Kind       = "KubeSchedulerConfiguration"
)

// LoadFile reads, defaults and validates the config at path. An empty path
// means "no file": the defaults.
func LoadFile(path string, reg framework.Registry) (*Config, error) {
	if path == "" {
		return Load(nil, reg)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := Load(data, reg)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Load decodes data (YAML or JSON; nil for defaults), defaults it and
// validates it against the plugins in reg.
func Load(data []byte, reg framework.Registry) (*Config, error) {
	raw := &configv1.KubeSchedulerConfiguration{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeStrict(data, raw); err != nil {
			return nil, err
		}
		if raw.APIVersion != APIVersion || raw.Kind != Kind {
			return nil, fmt.Errorf("apiVersion/kind: want %s %s, got %q %q", APIVersion, Kind, raw.APIVersion, raw.Kind)
		}
	}
	SetDefaults(raw)
	return Complete(raw, reg)
}

// decodeStrict converts YAML to JSON and decodes it rejecting unknown and
// duplicate fields, with the path of each offending field in the error.
func decodeStrict(data []byte, into interface{}) error {
	strictErrs, err := decodeStrictFields(data, into)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		var b bytes.Buffer
		for i, e := range strictErrs {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(e.Error())
		}
		return fmt.Errorf("strict decoding: %s", b.String())
	}
	return nil
}

// decodeStrictFields decodes like decodeStrict but returns the unknown and
// duplicate fields apart from a hard decoding error, so that plugin args
// can report each under its own field path.
func decodeStrictFields(data []byte, into interface{}) ([]error, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	strictErrs, err := sigsjson.UnmarshalStrict(js, into)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return strictErrs, nil
}

// strictField matches sigs.k8s.io/json's strict errors: `unknown field
// "a.b[0].c"` and `duplicate field "a"`.
var strictField = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)

// argsFieldErrors turns strict decoding errors of a plugin's args into
// field errors under path, e.g. `profiles[0].pluginConfig[1].args.ruleSets[0].prefered:
// Forbidden: unknown field`, so a misspelt field is reported where it is.
func argsFieldErrors(path *field.Path, strictErrs []error) field.ErrorList {
	var errs field.ErrorList
	for _, e := range strictErrs {
		if m := strictField.FindStringSubmatch(e.Error()); m != nil {
			errs = append(errs, field.Forbidden(path.Child(m[2]), m[1]+" field"))
			continue
		}
		errs = append(errs, field.Invalid(path, nil, e.Error()))
	}
	return errs
}

// SetDefaults fills the scheduler-wide fields the way kube-scheduler does,
// with berth's own names for the profile and the leader lease.
func SetDefaults(c *configv1.KubeSchedulerConfiguration) {
	c.APIVersion, c.Kind = APIVersion, Kind
	if c.Parallelism == nil {
		c.Parallelism = ptr.To[int32](16)
	}
	if c.PercentageOfNodesToScore == nil {
		c.PercentageOfNodesToScore = ptr.To[int32](0)
	}
	if c.PodInitialBackoffSeconds == nil {
		c.PodInitialBackoffSeconds = ptr.To[int64](1)
	}
	if c.PodMaxBackoffSeconds == nil {
		c.PodMaxBackoffSeconds = ptr.To[int64](10)
	}
	if len(c.Profiles) == 0 {
		c.Profiles = []configv1.KubeSchedulerProfile{{}}
	}
	for i := range c.Profiles {
		if c.Profiles[i].SchedulerName == nil {
			c.Profiles[i].SchedulerName = ptr.To(DefaultSchedulerName)
		}
	}
	le := &c.LeaderElection
	if le.LeaderElect == nil {
		le.LeaderElect = ptr.To(true)
	}
	if le.LeaseDuration.Duration == 0 {
		le.LeaseDuration.Duration = 15 * time.Second
	}
	if le.RenewDeadline.Duration == 0 {
		le.RenewDeadline.Duration = 10 * time.Second
	}
	if le.RetryPeriod.Duration == 0 {
		le.RetryPeriod.Duration = 2 * time.Second
	}
	if le.ResourceLock == "" {
		le.ResourceLock = "leases"
	}
	if le.ResourceNamespace == "" {
		le.ResourceNamespace = "kube-system"
	}
	if le.ResourceName == "" {
		le.ResourceName = "berth"
	}
	cc := &c.ClientConnection
	if cc.QPS == 0 {
		cc.QPS = 50
	}
	if cc.Burst == 0 {
		cc.Burst = 100
	}
	if cc.ContentType == "" {
		cc.ContentType = "application/vnd.kubernetes.protobuf"
	}
}

// Complete validates the defaulted raw config against reg and resolves it
// into a Config. Every problem is reported, each with its field path.
func Complete(raw *configv1.KubeSchedulerConfiguration, reg framework.Registry) (*Config, error) {
	var errs field.ErrorList
	errs = append(errs, validateGlobal(raw)...)

	cfg := &Config{
		Parallelism:              int(*raw.Parallelism),
		PercentageOfNodesToScore: *raw.PercentageOfNodesToScore,
		PodInitialBackoff:        time.Duration(*raw.PodInitialBackoffSeconds) * time.Second,
		PodMaxBackoff:            time.Duration(*raw.PodMaxBackoffSeconds) * time.Second,
		ClientConnection: ClientConnection{
			Kubeconfig: raw.ClientConnection.Kubeconfig, QPS: raw.ClientConnection.QPS,
			Burst: raw.ClientConnection.Burst, ContentType: raw.ClientConnection.ContentType,
		},
		LeaderElection: LeaderElection{
			LeaderElect:       *raw.LeaderElection.LeaderElect,
			LeaseDuration:     raw.LeaderElection.LeaseDuration.Duration,
			RenewDeadline:     raw.LeaderElection.RenewDeadline.Duration,
			RetryPeriod:       raw.LeaderElection.RetryPeriod.Duration,
			ResourceNamespace: raw.LeaderElection.ResourceNamespace,
			ResourceName:      raw.LeaderElection.ResourceName,
		},
		Raw: raw,
	}
	names := sets.New[string]()
	for i := range raw.Profiles {
		path := field.NewPath("profiles").Index(i)
		p, perrs := completeProfile(&raw.Profiles[i], reg, path)
		errs = append(errs, perrs...)
		if p == nil {
			continue
		}
		if names.Has(p.SchedulerName) {
			errs = append(errs, field.Duplicate(path.Child("schedulerName"), p.SchedulerName))
		}
		names.Insert(p.SchedulerName)
		cfg.Profiles = append(cfg.Profiles, *p)
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return cfg, nil
}

func validateGlobal(c *configv1.KubeSchedulerConfiguration) field.ErrorList {
	var errs field.ErrorList
	if *c.Parallelism <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("parallelism"), *c.Parallelism, "must be greater than 0"))
	}
	if v := *c.PercentageOfNodesToScore; v < 0 || v > 100 {
		errs = append(errs, field.Invalid(field.NewPath("percentageOfNodesToScore"), v, "must be in the range [0, 100]"))
	}
	if *c.PodInitialBackoffSeconds <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("podInitialBackoffSeconds"), *c.PodInitialBackoffSeconds, "must be greater than 0"))
	}
	if *c.PodMaxBackoffSeconds < *c.PodInitialBackoffSeconds {
		errs = append(errs, field.Invalid(field.NewPath("podMaxBackoffSeconds"), *c.PodMaxBackoffSeconds, "must be greater than or equal to podInitialBackoffSeconds"))
	}
	if len(c.Extenders) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("extenders"), "scheduler extenders are not supported by berth; use berth's plugins (or run berth as an extender of kube-scheduler instead)"))
	}
	if c.DelayCacheUntilActive {
		errs = append(errs, field.Forbidden(field.NewPath("delayCacheUntilActive"), "not supported: berth keeps its cache warm on standby replicas so that a takeover schedules at once"))
	}
	le := field.NewPath("leaderElection")
	if c.LeaderElection.ResourceLock != "leases" {
		errs = append(errs, field.NotSupported(le.Child("resourceLock"), c.LeaderElection.ResourceLock, []string{"leases"}))
	}
	if *c.LeaderElection.LeaderElect {
		l := c.LeaderElection
		if l.LeaseDuration.Duration <= l.RenewDeadline.Duration {
			errs = append(errs, field.Invalid(le.Child("leaseDuration"), l.LeaseDuration.Duration.String(), "must be greater than renewDeadline"))
		}
		if l.RenewDeadline.Duration <= l.RetryPeriod.Duration {
			errs = append(errs, field.Invalid(le.Child("renewDeadline"), l.RenewDeadline.Duration.String(), "must be greater than retryPeriod"))
		}
	}
	cc := field.NewPath("clientConnection")
	if c.ClientConnection.QPS < 0 {
		errs = append(errs, field.Invalid(cc.Child("qps"), c.ClientConnection.QPS, "must not be negative"))
	}
	if c.ClientConnection.Burst < 0 {
		errs = append(errs, field.Invalid(cc.Child("burst"), c.ClientConnection.Burst, "must not be negative"))
	}
	return errs
}

// DecodePluginArgs turns one plugin's pluginConfig args into its typed
// args, defaulted and validated: raw is JSON or YAML (empty for none) or
// an already decoded object, spec the plugin's ArgsSpec, path where the
// args are (profiles[0].pluginConfig[1].args). Every problem is reported
// with its own field path under path, so a misspelt field reads
// "<path>.ruleSets[0].prefered: Forbidden: unknown field". On a decoding
// problem the args are nil; on a validation problem they are returned
// with the errors. berth's config loader uses it for every pluginConfig
// entry, and kube-scheduler-berth for the args kube-scheduler hands its
// out-of-tree plugins undecoded.
func DecodePluginArgs(plugin string, raw runtime.RawExtension, spec *framework.ArgsSpec, path *field.Path) (runtime.Object, field.ErrorList) {
	args, err := decodeArgs(raw, spec)
	var strict *strictArgsError
	switch {
	case errors.As(err, &strict):
		return nil, argsFieldErrors(path, strict.errs)
	case err != nil:
		return nil, field.ErrorList{field.Invalid(path, plugin, err.Error())}
	}
	spec.Default(args)
	return args, spec.Validate(args, path)
}

// decodeArgs decodes one pluginConfig entry into the plugin's typed args.
func decodeArgs(raw runtime.RawExtension, spec *framework.ArgsSpec) (runtime.Object, error) {
	args := spec.New()
	if len(raw.Raw) == 0 && raw.Object != nil {
		return raw.Object, nil
	}
	if len(raw.Raw) == 0 {
		return args, nil
	}
	strictErrs, err := decodeStrictFields(raw.Raw, args)
	if err != nil {
		return nil, err
	}
	if len(strictErrs) > 0 {
		return nil, &strictArgsError{strictErrs}
	}
	return args, nil
}

// strictArgsError carries a plugin's args' unknown and duplicate fields
// to the caller, which knows their path.
type strictArgsError struct{ errs []error }

func (e *strictArgsError) Error() string { return fmt.Sprint(e.errs) }
