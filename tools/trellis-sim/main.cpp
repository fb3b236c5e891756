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
      throw trellis::InvalidArgumentError(flag + " " + spec + ": '" + part + "' is not a number");
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  trellis::gossip::SimConfig cfg;
  trellis::gossip::Config& p = cfg.protocol;

  CLI::App app{
      "trellis-sim: simulate a Trellis gossip cluster on virtual time.\n"
      "Runs N protocol cores in one process over a seeded network model and reports how fast "
      "events spread, how fast crashes are detected, false positives and traffic per node. "
      "Deterministic: the same flags and --seed give the same report."};
  double duration = 30, warmup = 5, join_spread = 1;
  double lat_min_ms = 0.2, lat_mean_ms = 1.0, lat_max_ms = 50;
  double events_at = 6, events_spread = 0;
  std::vector<std::string> partitions, crashes;
  std::string format = "text";
  std::string profile = "trellis";
  size_t nodes = 10;
  uint64_t seed = 1;

  app.add_option("-n,--nodes", nodes, "number of simulated nodes")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed of the network model and of every node")
      ->capture_default_str();
  app.add_option("--duration", duration, "simulated seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option(
         "--warmup", warmup,
         "seconds before traffic is measured (nodes join in the first --join-spread seconds)")
      ->capture_default_str();
  app.add_option("--join-spread", join_spread,
                 "nodes join through node 0 at random times within this many seconds")
      ->capture_default_str();
  app.add_option("--latency-min-ms", lat_min_ms, "minimum one-way latency (ms)")
      ->capture_default_str();
  app.add_option("--latency-mean-ms", lat_mean_ms,
                 "mean one-way latency (ms): minimum plus an exponential tail")
      ->capture_default_str();
  app.add_option("--latency-max-ms", lat_max_ms, "latency cap (ms)")->capture_default_str();
  app.add_option("--loss", cfg.loss, "probability that a message is lost, in [0, 1)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  app.add_option("--partition", partitions,
                 "START:DURATION[:FRACTION] seconds: cut a random FRACTION (default 0.5) of the "
                 "nodes from the rest for DURATION (repeatable)");
  app.add_option("--crash", crashes,
                 "AT[:COUNT[:RESTART_AFTER]] seconds: COUNT random nodes (default 1, never node 0) "
                 "crash at AT, restarting after RESTART_AFTER if given (repeatable)");
  app.add_option("--events", cfg.events, "events appended at random live nodes")
      ->capture_default_str();
  app.add_option("--events-at", events_at, "second of the first event")->capture_default_str();
  app.add_option("--events-spread", events_spread,
                 "seconds over which the events are spread evenly (0: one burst)")
      ->capture_default_str();
  app.add_option("--event-bytes", cfg.event_bytes, "encoded size of each event")
      ->capture_default_str();

  double probe_interval_ms = 400, probe_timeout_ms = 150, gossip_interval_ms = 200, ae_ms = 1000,
         push_pull_s = 30, reconnect_s = 2;
  {
    trellis::gossip::Config d;
    probe_interval_ms = static_cast<double>(d.probe_interval.count()) / 1e3;
    probe_timeout_ms = static_cast<double>(d.probe_timeout.count()) / 1e3;
    gossip_interval_ms = static_cast<double>(d.gossip_interval.count()) / 1e3;
    ae_ms = static_cast<double>(d.anti_entropy_interval.count()) / 1e3;
    push_pull_s = static_cast<double>(d.push_pull_interval.count()) / 1e6;
    reconnect_s = static_cast<double>(d.reconnect_interval.count()) / 1e6;
  }
  auto* proto = "protocol (defaults are trellisd's)";
  app.add_option("--probe-interval-ms", probe_interval_ms, "failure-detector probe period")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--probe-timeout-ms", probe_timeout_ms, "direct ack wait before indirect probes")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--indirect-checks", p.indirect_checks, "members asked to probe indirectly")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--suspicion-mult", p.suspicion_mult,
                 "suspicion min = mult * log10(N) * probe interval")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--suspicion-max-mult", p.suspicion_max_mult,
                 "suspicion starts at max-mult * min, shrinks with confirmations")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--suspicion-confirmations", p.suspicion_confirmations,
                 "independent confirmations that shrink the suspicion timeout to its min")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--suspicion-verifiers", p.suspicion_verifiers,
                 "expected nodes that probe a suspect at once when they hear of it")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--gossip-interval-ms", gossip_interval_ms, "piggyback gossip period")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--gossip-nodes", p.gossip_nodes, "peers per gossip round")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--eager-fanout", p.eager_fanout,
                 "peers that get a new event or membership change at once")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--retransmit-mult", p.retransmit_mult,
                 "membership update retransmits = mult * ceil(log10(N+1))")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--event-retransmit-mult", p.event_retransmit_mult,
                 "log entry retransmits = mult * ceil(log10(N+1))")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--piggyback-bytes", p.piggyback_bytes, "piggyback budget per message")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--anti-entropy-interval-ms", ae_ms, "version-vector exchange period")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--push-pull-interval-s", push_pull_s,
                 "full membership exchange period (scaled up beyond 32 nodes)")
      ->group(proto)
      ->capture_default_str();
  app.add_option("--reconnect-interval-s", reconnect_s, "retry one dead member this often")
      ->group(proto)
      ->capture_default_str();
  app.add_option(
         "--profile", profile,
         "timing profile applied before the protocol flags: 'trellis' (trellisd's defaults) "
         "or 'memberlist' (hashicorp/memberlist's LAN timings on this implementation: "
         "probe 1 s / timeout 500 ms, suspicion mult 4 (k = 2), gossip 200 ms to 3, "
         "retransmit mult 4, 1,400-byte packets, no eager push, 30 s push-pull; for "
         "comparison only)")
      ->check(CLI::IsMember({"trellis", "memberlist"}))
      ->capture_default_str();
  app.add_option("--format", format, "report format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  // The profile sets the defaults; explicit protocol flags given on the command line win.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--profile") profile = argv[i + 1];
  }
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--profile=", 0) == 0) profile = std::string(argv[i]).substr(10);
  }
  if (profile == "memberlist") {
    probe_interval_ms = 1000;
    probe_timeout_ms = 500;
    p.suspicion_mult = 4;
    p.suspicion_max_mult = 6;
    p.suspicion_confirmations = 2;
    p.suspicion_verifiers = 0;
    gossip_interval_ms = 200;
    p.gossip_nodes = 3;
    p.eager_fanout = 0;
    p.retransmit_mult = 4;
    p.event_retransmit_mult = 4;
    p.piggyback_bytes = 1400;
    ae_ms = 30000;
    push_pull_s = 30;
    reconnect_s = 30;
    p.gossip_to_dead_time = std::chrono::seconds(30);
  }
  CLI11_PARSE(app, argc, argv);

  try {
    cfg.nodes = nodes;
    cfg.seed = seed;
    cfg.duration = seconds_to_time(duration);
    cfg.warmup = seconds_to_time(warmup);
    cfg.join_spread = seconds_to_time(join_spread);
    cfg.latency_min = seconds_to_time(lat_min_ms / 1e3);
    cfg.latency_mean = seconds_to_time(lat_mean_ms / 1e3);
    cfg.latency_max = seconds_to_time(lat_max_ms / 1e3);
    if (cfg.latency_mean < cfg.latency_min || cfg.latency_max < cfg.latency_min) {
      throw trellis::InvalidArgumentError("latency: need min <= mean and min <= max");
    }
    cfg.events_at = seconds_to_time(events_at);
    cfg.events_spread = seconds_to_time(events_spread);
    for (const std::string& s : partitions) {
      std::vector<double> v = split_numbers(s, "--partition");
      if (v.size() < 2 || v.size() > 3)
        throw trellis::InvalidArgumentError("--partition " + s +
                                            ": expected START:DURATION[:FRACTION]");
      trellis::gossip::SimPartition part;
      part.start = seconds_to_time(v[0]);
      part.duration = seconds_to_time(v[1]);
      if (v.size() == 3) part.fraction = v[2];
      if (part.fraction <= 0 || part.fraction >= 1)
        throw trellis::InvalidArgumentError("--partition " + s + ": fraction must be in (0, 1)");
      cfg.partitions.push_back(part);
    }
    for (const std::string& s : crashes) {
      std::vector<double> v = split_numbers(s, "--crash");
      if (v.empty() || v.size() > 3)
        throw trellis::InvalidArgumentError("--crash " + s +
                                            ": expected AT[:COUNT[:RESTART_AFTER]]");
      trellis::gossip::SimCrash crash;
      crash.at = seconds_to_time(v[0]);
      if (v.size() >= 2) crash.count = static_cast<size_t>(v[1]);
      if (v.size() == 3) crash.restart_after = seconds_to_time(v[2]);
      cfg.crashes.push_back(crash);
    }
    p.probe_interval = seconds_to_time(probe_interval_ms / 1e3);
    p.probe_timeout = seconds_to_time(probe_timeout_ms / 1e3);
    p.gossip_interval = seconds_to_time(gossip_interval_ms / 1e3);
    p.anti_entropy_interval = seconds_to_time(ae_ms / 1e3);
    p.push_pull_interval = seconds_to_time(push_pull_s);
    p.reconnect_interval = seconds_to_time(reconnect_s);

    trellis::gossip::SimReport report = trellis::gossip::run_simulation(cfg);
    std::cout << (format == "json" ? trellis::gossip::format_report_json(report)
                                   : trellis::gossip::format_report_text(report));
  } catch (const std::exception& e) {
    std::cerr << "trellis-sim: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
