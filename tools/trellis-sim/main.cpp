// trellis-sim: the gossip simulator's command line. Runs N protocol cores (gossip::Core) in one
// process on virtual time over a seeded network model (latency, loss, partitions, crashes and
// restarts) and reports dissemination time, failure-detection time, false positives and
// traffic. The same flags and seed always give the same report.

#include <CLI/CLI.hpp>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "common/error.h"
#include "gossip/sim.h"

namespace {

using trellis::InvalidArgumentError;
using trellis::gossip::Config;
using trellis::gossip::SimConfig;
using trellis::gossip::SimCrash;
using trellis::gossip::SimPartition;
using trellis::gossip::SimReport;
using trellis::gossip::Time;

Time seconds_to_time(double s) { return Time{static_cast<int64_t>(std::llround(s * 1e6))}; }

std::vector<double> split_numbers(const std::string& spec, const std::string& flag) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t colon = spec.find(':', start);
    std::string part =
        spec.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    try {
      size_t used = 0;
      out.push_back(std::stod(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw InvalidArgumentError(flag + " " + spec + ": '" + part + "' is not a number");
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

// The command line in the units it is given in (seconds, milliseconds); to_sim_config() turns
// it into a SimConfig. Flags that need no conversion are bound to `config` directly.
struct SimFlags {
  SimFlags() {
    // The protocol timings start at trellisd's defaults (gossip::Config), shown by --help.
    const Config d;
    probe_interval_ms = static_cast<double>(d.probe_interval.count()) / 1e3;
    probe_timeout_ms = static_cast<double>(d.probe_timeout.count()) / 1e3;
    gossip_interval_ms = static_cast<double>(d.gossip_interval.count()) / 1e3;
    anti_entropy_ms = static_cast<double>(d.anti_entropy_interval.count()) / 1e3;
    push_pull_s = static_cast<double>(d.push_pull_interval.count()) / 1e6;
    reconnect_s = static_cast<double>(d.reconnect_interval.count()) / 1e6;
  }

  SimConfig config;
  size_t nodes = 10;
  uint64_t seed = 1;
  double duration = 30, warmup = 5, join_spread = 1;
  double lat_min_ms = 0.2, lat_mean_ms = 1.0, lat_max_ms = 50;
  double events_at = 6, events_spread = 0;
  std::vector<std::string> partitions, crashes;
  double probe_interval_ms, probe_timeout_ms, gossip_interval_ms, anti_entropy_ms;
  double push_pull_s, reconnect_s;
  std::string profile = "trellis";
  std::string format = "text";
};

// The cluster, the network model and the workload.
void add_scenario_flags(CLI::App& app, SimFlags& f) {
  SimConfig& cfg = f.config;
  app.add_option("-n,--nodes", f.nodes, "number of simulated nodes")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--seed", f.seed, "random seed of the network model and of every node")
      ->capture_default_str();
  app.add_option("--duration", f.duration, "simulated seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option(
         "--warmup", f.warmup,
         "seconds before traffic is measured (nodes join in the first --join-spread seconds)")
      ->capture_default_str();
  app.add_option("--join-spread", f.join_spread,
                 "nodes join through node 0 at random times within this many seconds")
      ->capture_default_str();
  app.add_option("--latency-min-ms", f.lat_min_ms, "minimum one-way latency (ms)")
      ->capture_default_str();
  app.add_option("--latency-mean-ms", f.lat_mean_ms,
                 "mean one-way latency (ms): minimum plus an exponential tail")
      ->capture_default_str();
  app.add_option("--latency-max-ms", f.lat_max_ms, "latency cap (ms)")->capture_default_str();
  app.add_option("--loss", cfg.loss, "probability that a message is lost, in [0, 1)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  app.add_option("--partition", f.partitions,
                 "START:DURATION[:FRACTION] seconds: cut a random FRACTION (default 0.5) of the "
                 "nodes from the rest for DURATION (repeatable)");
  app.add_option("--crash", f.crashes,
                 "AT[:COUNT[:RESTART_AFTER]] seconds: COUNT random nodes (default 1, never node 0) "
                 "crash at AT, restarting after RESTART_AFTER if given (repeatable)");
  app.add_option("--events", cfg.events, "events appended at random live nodes")
      ->capture_default_str();
  app.add_option("--events-at", f.events_at, "second of the first event")->capture_default_str();
  app.add_option("--events-spread", f.events_spread,
                 "seconds over which the events are spread evenly (0: one burst)")
      ->capture_default_str();
  app.add_option("--event-bytes", cfg.event_bytes, "encoded size of each event")
      ->capture_default_str();
}

// The protocol's timings and fan-outs (gossip::Config), then --profile.
void add_protocol_flags(CLI::App& app, SimFlags& f) {
  Config& p = f.config.protocol;
  auto* proto = "protocol (defaults are trellisd's)";
  auto add = [&](const std::string& name, auto& value, const std::string& description) {
    app.add_option(name, value, description)->group(proto)->capture_default_str();
  };
  add("--probe-interval-ms", f.probe_interval_ms, "failure-detector probe period");
  add("--probe-timeout-ms", f.probe_timeout_ms, "direct ack wait before indirect probes");
  add("--indirect-checks", p.indirect_checks, "members asked to probe indirectly");
  add("--suspicion-mult", p.suspicion_mult, "suspicion min = mult * log10(N) * probe interval");
  add("--suspicion-max-mult", p.suspicion_max_mult,
      "suspicion starts at max-mult * min, shrinks with confirmations");
  add("--suspicion-confirmations", p.suspicion_confirmations,
      "independent confirmations that shrink the suspicion timeout to its min");
  add("--suspicion-verifiers", p.suspicion_verifiers,
      "expected nodes that probe a suspect at once when they hear of it");
  add("--gossip-interval-ms", f.gossip_interval_ms, "piggyback gossip period");
  add("--gossip-nodes", p.gossip_nodes, "peers per gossip round");
  add("--eager-fanout", p.eager_fanout, "peers that get a new event or membership change at once");
  add("--retransmit-mult", p.retransmit_mult,
      "membership update retransmits = mult * ceil(log10(N+1))");
  add("--event-retransmit-mult", p.event_retransmit_mult,
      "log entry retransmits = mult * ceil(log10(N+1))");
  add("--piggyback-bytes", p.piggyback_bytes, "piggyback budget per message");
  add("--anti-entropy-interval-ms", f.anti_entropy_ms, "version-vector exchange period");
  add("--push-pull-interval-s", f.push_pull_s,
      "full membership exchange period (scaled up beyond 32 nodes)");
  add("--reconnect-interval-s", f.reconnect_s, "retry one dead member this often");
  app.add_option(
         "--profile", f.profile,
         "timing profile applied before the protocol flags: 'trellis' (trellisd's defaults) "
         "or 'memberlist' (hashicorp/memberlist's LAN timings on this implementation: "
         "probe 1 s / timeout 500 ms, suspicion mult 4 (k = 2), gossip 200 ms to 3, "
         "retransmit mult 4, 1,400-byte packets, no eager push, 30 s push-pull; for "
         "comparison only)")
      ->check(CLI::IsMember({"trellis", "memberlist"}))
      ->capture_default_str();
}

// The profile must set the protocol flags' values before CLI11 parses, so that flags given
// on the command line win over it; CLI11 has not seen --profile yet, so read it from argv.
std::string profile_in(int argc, char** argv, std::string profile) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--profile") profile = argv[i + 1];
  }
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--profile=", 0) == 0) profile = std::string(argv[i]).substr(10);
  }
  return profile;
}

void apply_memberlist_profile(SimFlags& f) {
  Config& p = f.config.protocol;
  f.probe_interval_ms = 1000;
  f.probe_timeout_ms = 500;
  p.suspicion_mult = 4;
  p.suspicion_max_mult = 6;
  p.suspicion_confirmations = 2;
  p.suspicion_verifiers = 0;
  f.gossip_interval_ms = 200;
  p.gossip_nodes = 3;
  p.eager_fanout = 0;
  p.retransmit_mult = 4;
  p.event_retransmit_mult = 4;
  p.piggyback_bytes = 1400;
  f.anti_entropy_ms = 30000;
  f.push_pull_s = 30;
  f.reconnect_s = 30;
  p.gossip_to_dead_time = std::chrono::seconds(30);
}

SimPartition parse_partition(const std::string& spec) {
  std::vector<double> v = split_numbers(spec, "--partition");
  if (v.size() < 2 || v.size() > 3)
    throw InvalidArgumentError("--partition " + spec + ": expected START:DURATION[:FRACTION]");
  SimPartition part;
  part.start = seconds_to_time(v[0]);
  part.duration = seconds_to_time(v[1]);
  if (v.size() == 3) part.fraction = v[2];
  if (part.fraction <= 0 || part.fraction >= 1)
    throw InvalidArgumentError("--partition " + spec + ": fraction must be in (0, 1)");
  return part;
}

SimCrash parse_crash(const std::string& spec) {
  std::vector<double> v = split_numbers(spec, "--crash");
  if (v.empty() || v.size() > 3)
    throw InvalidArgumentError("--crash " + spec + ": expected AT[:COUNT[:RESTART_AFTER]]");
  SimCrash crash;
  crash.at = seconds_to_time(v[0]);
  if (v.size() >= 2) crash.count = static_cast<size_t>(v[1]);
  if (v.size() == 3) crash.restart_after = seconds_to_time(v[2]);
  return crash;
}

// InvalidArgumentError for values CLI11's checks cannot judge alone.
SimConfig to_sim_config(const SimFlags& f) {
  SimConfig cfg = f.config;
  cfg.nodes = f.nodes;
  cfg.seed = f.seed;
  cfg.duration = seconds_to_time(f.duration);
  cfg.warmup = seconds_to_time(f.warmup);
  cfg.join_spread = seconds_to_time(f.join_spread);
  cfg.latency_min = seconds_to_time(f.lat_min_ms / 1e3);
  cfg.latency_mean = seconds_to_time(f.lat_mean_ms / 1e3);
  cfg.latency_max = seconds_to_time(f.lat_max_ms / 1e3);
  if (cfg.latency_mean < cfg.latency_min || cfg.latency_max < cfg.latency_min) {
    throw InvalidArgumentError("latency: need min <= mean and min <= max");
  }
  cfg.events_at = seconds_to_time(f.events_at);
  cfg.events_spread = seconds_to_time(f.events_spread);
  for (const std::string& s : f.partitions) cfg.partitions.push_back(parse_partition(s));
  for (const std::string& s : f.crashes) cfg.crashes.push_back(parse_crash(s));
  Config& p = cfg.protocol;
  p.probe_interval = seconds_to_time(f.probe_interval_ms / 1e3);
  p.probe_timeout = seconds_to_time(f.probe_timeout_ms / 1e3);
  p.gossip_interval = seconds_to_time(f.gossip_interval_ms / 1e3);
  p.anti_entropy_interval = seconds_to_time(f.anti_entropy_ms / 1e3);
  p.push_pull_interval = seconds_to_time(f.push_pull_s);
  p.reconnect_interval = seconds_to_time(f.reconnect_s);
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "trellis-sim: simulate a Trellis gossip cluster on virtual time.\n"
      "Runs N protocol cores in one process over a seeded network model and reports how fast "
      "events spread, how fast crashes are detected, false positives and traffic per node. "
      "Deterministic: the same flags and --seed give the same report."};
  SimFlags flags;
  add_scenario_flags(app, flags);
  add_protocol_flags(app, flags);
  app.add_option("--format", flags.format, "report format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  flags.profile = profile_in(argc, argv, flags.profile);
  if (flags.profile == "memberlist") apply_memberlist_profile(flags);
  CLI11_PARSE(app, argc, argv);

  try {
    const SimReport report = trellis::gossip::run_simulation(to_sim_config(flags));
    std::cout << (flags.format == "json" ? trellis::gossip::format_report_json(report)
                                         : trellis::gossip::format_report_text(report));
  } catch (const std::exception& e) {
    std::cerr << "trellis-sim: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
