// Package config owns the bot's one Config: loaded from YAML, overridden from SMARTCLOUDOPS_*
// environment variables, filled with defaults and validated, reporting every problem at once with
// its field path and line. Secrets are references (env:NAME, file:PATH, ssm:/path) resolved at
// start-up and never printed. It sits beside the flow: internal/app reads it to build every stage.
package config

import (
	"time"
)

// Config is the whole configuration of one bot.
type Config struct {
	DataDir      string          `yaml:"data_dir"` // where the store, charts and logs live
	Listen       string          `yaml:"listen"`   // HTTP address for health, metrics, webhook and API
	Log          Log             `yaml:"log"`
	Console      Console         `yaml:"console"`
	Slack        Slack           `yaml:"slack"`
	Discord      Discord         `yaml:"discord"`
	Roles        map[string]Role `yaml:"roles"`
	Prometheus   Prometheus      `yaml:"prometheus"`
	Alertmanager Alertmanager    `yaml:"alertmanager"`
	Checks       []Check         `yaml:"checks"`
	Rules        Rules           `yaml:"rules"`
	Actions      Actions         `yaml:"actions"`
	Executor     Executor        `yaml:"executor"`
	Retention    Retention       `yaml:"retention"`
	Store        Store           `yaml:"store"`
	Notify       Notify          `yaml:"notify"`
	Debug        Debug           `yaml:"debug"`
	Memory       Memory          `yaml:"memory"`
}

// Memory sets how much room the Go garbage collector leaves above the live heap, the largest
// share of the process' memory beyond the per-series state. The environment's GOGC and GOMEMLIMIT,
// when set, take precedence over these fields, as they do for any Go program. Applied at start.
type Memory struct {
	// GCPercent is how far, in percent of the heap live after a collection, the heap grows before
	// the next one (Go's GOGC): the headroom. Empty (0) adapts it to the live heap: the whole live
	// heap, as Go's default of 100 leaves, up to 128 MiB of headroom, and beyond that 128 MiB or a
	// quarter of the live heap, whichever is more. A small bot thus collects as often as any Go
	// program, and one holding the state of 100,000 series (half a GB and more, long-lived) leaves a
	// quarter of it instead of all of it. -1 turns the percentage off, leaving only Limit.
	GCPercent int `yaml:"gc_percent"`
	// Limit is a soft limit on the process' memory (Go's GOMEMLIMIT), such as 1.5GiB or 900MB:
	// the collector runs as often as needed to stay under it, whatever GCPercent allows. Empty:
	// 90 % of the container's memory limit (cgroup memory.max) when there is one, else none.
	Limit ByteSize `yaml:"limit"`
}

// Debug configures what helps diagnose the bot itself.
type Debug struct {
	// Pprof serves Go's profiling endpoints under /debug/pprof/ on listen, to API keys with the
	// admin role only. Off by default.
	Pprof bool `yaml:"pprof"`
}

// Store says where the bot keeps its state: a local bbolt file under data_dir (the default, one
// process) or etcd (several replicas, one of which leads).
type Store struct {
	Backend string    `yaml:"backend"` // bbolt (default) or etcd
	Etcd    StoreEtcd `yaml:"etcd"`
}

// StoreEtcd configures the etcd store.
type StoreEtcd struct {
	Endpoints []string `yaml:"endpoints"` // client URLs, such as https://10.0.0.5:2379
	// Prefix is where this deployment's keys live, such as /smartcloudops/prod/.
	Prefix string `yaml:"prefix"`
	// Deployment names this deployment; a prefix already owned by another is refused.
	Deployment  string   `yaml:"deployment"`
	Username    string   `yaml:"username"`
	Password    Secret   `yaml:"password"`
	TLS         TLS      `yaml:"tls"` // ca_file, cert_file, key_file
	DialTimeout Duration `yaml:"dial_timeout"`
	// Models bounds the detector's model state kept in etcd, whose history grows with every
	// write: how many series keep their models there and how often each is written.
	Models EtcdModels `yaml:"models"`
}

// EtcdModels bounds the detector's model state in etcd. A series beyond MaxSeries keeps its
// model in the leader's memory only, and after a failover learns again from new points.
type EtcdModels struct {
	MaxSeries int      `yaml:"max_series"` // default 5000; 0 stores every series' model
	SaveEvery Duration `yaml:"save_every"` // default 5m: how often each series' model is written
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json, or empty for text on a terminal and JSON otherwise
}

// Console configures the terminal adapter.
type Console struct {
	Enabled bool   `yaml:"enabled"`
	User    string `yaml:"user"` // who typed commands are from; default the OS user
}

// Route sends cards whose severity and labels match to a channel. Empty fields match anything.
type Route struct {
	Severity string            `yaml:"severity"`
	Labels   map[string]string `yaml:"labels"`
	Channel  string            `yaml:"channel"`
}

// Slack configures the Socket Mode adapter.
type Slack struct {
	Enabled        bool    `yaml:"enabled"`
	BotToken       Secret  `yaml:"bot_token"` // xoxb-…, as a reference
	AppToken       Secret  `yaml:"app_token"` // xapp-…, as a reference
	APIURL         string  `yaml:"api_url"`   // override for tests; must end with "/"
	DefaultChannel string  `yaml:"default_channel"`
	Routes         []Route `yaml:"routes"`
}

// Discord configures the Discord adapter.
type Discord struct {
	Enabled        bool    `yaml:"enabled"`
	Token          Secret  `yaml:"token"`
	ApplicationID  string  `yaml:"application_id"`
	GuildID        string  `yaml:"guild_id"`
	PublicKey      string  `yaml:"public_key"` // enables the HTTP interactions endpoint
	APIURL         string  `yaml:"api_url"`    // override of https://discord.com (scheme and host), for tests
	DefaultChannel string  `yaml:"default_channel"`
	Routes         []Route `yaml:"routes"`
}

// Role lists who holds a role. Members are "platform:id", such as "slack:U123", "discord:4567"
// or "console:alice"; groups are platform groups, such as "slack:S0123" (a user group) or
// "discord:8910" (a Discord role).
type Role struct {
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
}

// TLS configures a client's TLS.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// BasicAuth is a user and a password reference.
type BasicAuth struct {
	User     string `yaml:"user"`
	Password Secret `yaml:"password"`
}

// Prometheus configures the Prometheus query source.
type Prometheus struct {
	URL         string     `yaml:"url"`
	BearerToken Secret     `yaml:"bearer_token"`
	BasicAuth   *BasicAuth `yaml:"basic_auth"`
	TLS         TLS        `yaml:"tls"`
	Timeout     Duration   `yaml:"timeout"`
	// MaxConcurrentQueries bounds the queries the bot has in flight to Prometheus; more wait
	// for a slot, within their timeout. 0 means 4.
	MaxConcurrentQueries int `yaml:"max_concurrent_queries"`
}

// Alertmanager configures the webhook intake and the silences API.
type Alertmanager struct {
	URL          string `yaml:"url"`           // for silences and reconciliation; empty disables them
	WebhookToken Secret `yaml:"webhook_token"` // bearer token the webhook must carry; empty for none
	// ResendInterval is how often Prometheus re-sends firing alerts (its
	// --rules.alert.resend-delay, 1m by default). With URL set, the bot compares its open alert
	// incidents with Alertmanager's alerts this often, and an alert Alertmanager has not listed
	// for twice this long is resolved: Alertmanager sends no resolved notification for a
	// silenced or inhibited alert.
	ResendInterval Duration `yaml:"resend_interval"`
}

// Check is one scheduled detector check.
type Check struct {
	Name   string  `yaml:"name"`
	Source string  `yaml:"source"` // procfs, prometheus or replay
	Metric string  `yaml:"metric"` // procfs: cpu, memory, load, disk
	Query  string  `yaml:"query"`  // prometheus: PromQL
	File   string  `yaml:"file"`   // replay: CSV of timestamp,value
	Speed  float64 `yaml:"speed"`  // replay: points per tick; default 1
	// FastForward (replay) limits Speed to the first FastForward points; the rest go one per
	// tick, so a replay skips through warm-up and plays its incident at a live check's pace.
	FastForward int               `yaml:"fast_forward"`
	Schedule    string            `yaml:"schedule"` // cron spec or @every 15s
	Model       string            `yaml:"model"`    // "default" or a model file from `detect train`
	Threshold   float64           `yaml:"threshold"`
	Severity    string            `yaml:"severity"`
	Unit        string            `yaml:"unit"`
	Labels      map[string]string `yaml:"labels"`
	// MinChange is the least departure from the expected value that opens an incident.
	MinChange MinChange `yaml:"min_change"`
	// ResolveAfter is how many consecutive normal points end an incident; 0 means 3.
	ResolveAfter int `yaml:"resolve_after"`
	// RecurWithin is how long after an incident resolves a return beyond the band it opened
	// against opens a new incident whatever the score; 0 means 1h.
	RecurWithin Duration `yaml:"recur_within"`
}

// MinChange keeps a saturated or flat series from opening incidents for tiny wobbles: a point
// opens one only when it departs from the expected value by at least Absolute (in the check's
// unit) and by at least Relative of the expected value (0.02 for 2 %).
type MinChange struct {
	Relative float64 `yaml:"relative"`
	Absolute float64 `yaml:"absolute"`
}

// Rules says where rule files come from.
type Rules struct {
	Paths []string `yaml:"paths"` // files or directories of rule YAML
}

// Actions configures the actions rules may propose.
type Actions struct {
	Script  ScriptAction  `yaml:"script"`
	Webhook WebhookAction `yaml:"webhook"`
	AWS     AWSAction     `yaml:"aws"`
}

// ScriptAction configures the allow-listed script action.
type ScriptAction struct {
	Dir     string   `yaml:"dir"` // only scripts in this directory may run
	Timeout Duration `yaml:"timeout"`
}

// WebhookAction configures the webhook action.
type WebhookAction struct {
	Secret       Secret   `yaml:"secret"` // HMAC key for the signature header
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowPrivateNetworks lets webhooks reach loopback and private addresses when
	// allowed_hosts is empty.
	AllowPrivateNetworks bool     `yaml:"allow_private_networks"`
	Timeout              Duration `yaml:"timeout"`
}

// AWSAction configures the AWS actions.
type AWSAction struct {
	Enabled  bool   `yaml:"enabled"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"` // override, e.g. for a local test endpoint
}

// Executor configures how approved actions run.
type Executor struct {
	DryRun      bool     `yaml:"dry_run"`      // describe, never execute
	Timeout     Duration `yaml:"timeout"`      // per action
	MaxPerHour  int      `yaml:"max_per_hour"` // across all rules
	ExpireAfter Duration `yaml:"expire_after"` // default expiry of proposals without a rule policy
	// Settle is how long after an action succeeded the bot checks whether its incident cleared
	// and says so in the card's thread; 0 turns the check off.
	Settle Duration `yaml:"settle"`
	// MaxFailures disables a rule whose actions failed this many times in a row; 0 never does.
	MaxFailures int `yaml:"max_failures"`
}

// Retention is how long the bot keeps what is over. 0 keeps it forever. The audit log is always
// kept whole: it is a hash chain, and the record of who approved what outlives the proposal.
type Retention struct {
	// Series is how long a series may send no new point before its model state is forgotten; an
	// anomaly incident it still had open resolves, saying the series stopped reporting.
	Series Duration `yaml:"series"`
	// Incidents is how long a resolved incident is kept after it resolved.
	Incidents Duration `yaml:"incidents"`
	// Proposals is how long a proposal that can no longer change (succeeded, failed, rejected,
	// expired, void, unknown) is kept after its last change.
	Proposals Duration `yaml:"proposals"`
}

// ByteSize is a number of bytes written as 900MB, 1.5GiB or 1048576 in YAML.
type ByteSize int64

// Duration is a time.Duration written as "30s", "5m" or "90d" in YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration used when no file is given: the console adapter, this
// machine's metrics, and the example rules.
func Default() Config {
	return Config{
		DataDir:      "./data",
		Listen:       "127.0.0.1:9090",
		Console:      Console{Enabled: true},
		Roles:        map[string]Role{},
		Prometheus:   Prometheus{Timeout: Duration(10 * time.Second), MaxConcurrentQueries: 4},
		Alertmanager: Alertmanager{ResendInterval: Duration(time.Minute)},
		Actions: Actions{
			Script:  ScriptAction{Timeout: Duration(30 * time.Second)},
			Webhook: WebhookAction{Timeout: Duration(10 * time.Second)},
		},
		Executor: Executor{Timeout: Duration(5 * time.Minute), MaxPerHour: 20, ExpireAfter: Duration(time.Hour),
			Settle: Duration(2 * time.Minute), MaxFailures: 3},
		Retention: Retention{Series: Duration(7 * 24 * time.Hour), Incidents: Duration(90 * 24 * time.Hour),
			Proposals: Duration(90 * 24 * time.Hour)},
		Store: Store{Backend: "bbolt", Etcd: StoreEtcd{DialTimeout: Duration(5 * time.Second),
			Models: EtcdModels{MaxSeries: 5000, SaveEvery: Duration(5 * time.Minute)}}},
		Notify: defaultNotify(),
	}
}
