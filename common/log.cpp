#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <string>

#include "common/error.h"

namespace trellis {

namespace {

std::mutex g_mutex;  // guards logger creation and the level
spdlog::level::level_enum g_level = spdlog::level::info;

std::shared_ptr<spdlog::sinks::sink> shared_sink() {
  static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return sink;
}

}  // namespace

spdlog::logger& log(std::string_view component) {
  std::lock_guard lock(g_mutex);
  const std::string name(component);
  if (auto existing = spdlog::get(name)) return *existing;
  auto logger = std::make_shared<spdlog::logger>(name, shared_sink());
  logger->set_level(g_level);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  spdlog::register_logger(logger);
  return *logger;
}

void set_log_level(std::string_view level) {
  const std::string text(level);
  auto parsed = spdlog::level::from_str(text);
  // from_str maps unknown names to "off"; only accept "off" when asked for.
  if (parsed == spdlog::level::off && text != "off") {
    throw InvalidArgumentError("unknown log level '" + text +
                               "' (expected trace, debug, info, warn, error, critical or off)");
  }
  std::lock_guard lock(g_mutex);
  g_level = parsed;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(parsed); });
}

}  // namespace trellis
